"""The positional conv must be right in bfloat16 and under CPU autocast.

oneDNN's bfloat16 grouped conv gives wrong values on CPUs with AMX (seen with torch 2.13 on
an Intel Xeon: relative error ~1), so the module runs that conv in float32 on CPU.
"""

import torch

from sewstream.model.config import SEWConfig
from sewstream.model.squeeze import PositionalConvEmbedding


def _module() -> PositionalConvEmbedding:
    torch.manual_seed(0)
    config = SEWConfig(hidden_size=32, num_attention_heads=4, num_conv_pos_embeddings=16,
                       num_conv_pos_embedding_groups=4, squeeze_factor=2)
    return PositionalConvEmbedding(config).eval()


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).abs().max() / b.float().abs().max()).item()


def test_bfloat16_module_matches_float32():
    m, x = _module(), torch.randn(2, 32, 50)
    with torch.no_grad():
        ref = m(x)
        out = m.to(torch.bfloat16)(x.bfloat16())
    assert out.dtype == torch.bfloat16 and out.shape == ref.shape
    assert _rel(out, ref) < 0.02


def test_cpu_autocast_matches_float32():
    m, x = _module(), torch.randn(2, 32, 50)
    with torch.no_grad():
        ref = m(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = m(x)
    assert _rel(out, ref) < 0.02
