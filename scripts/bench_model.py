#!/usr/bin/env python3
"""Forward-pass speed: sewstream's SEW / SEW-D vs transformers' on the same weights.

    python scripts/bench_model.py                 # sew-tiny and sew-d-tiny shapes, 1/10/30 s, batch 1/8
    python scripts/bench_model.py --quick         # fewer repeats
    python scripts/bench_model.py --device cuda   # on a GPU (a lent device machine)

Both models are built from one random checkpoint saved by transformers; every row checks
that the outputs agree (max abs diff) before timing. CPU, float32, inference mode, the
same thread count for both; the median of several runs after a warm-up (on a GPU, each run
ends with a synchronize, so the kernels are timed, not their launch).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

SHAPES = {
    # asapp/sew-tiny-100k: hidden 256, 12 layers, 4 heads, FFN 1024, squeeze 2
    "sew-tiny": ("SEW", dict(hidden_size=256, num_hidden_layers=12, num_attention_heads=4, intermediate_size=1024,
                             squeeze_factor=2, num_conv_pos_embeddings=31, num_conv_pos_embedding_groups=16)),
    # the same with layer-norm conv layers and conv biases (sewstream's default-model architecture)
    "sew-tiny-ln": ("SEW", dict(hidden_size=256, num_hidden_layers=12, num_attention_heads=4, intermediate_size=1024,
                                squeeze_factor=2, num_conv_pos_embeddings=31, num_conv_pos_embedding_groups=16,
                                feat_extract_norm="layer", conv_bias=True)),
    # asapp/sew-d-tiny-100k: hidden 384, 12 layers, 6 heads, FFN 1536, 256 position buckets
    "sew-d-tiny": ("SEWD", dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, intermediate_size=1536,
                                squeeze_factor=2, num_conv_pos_embeddings=31, num_conv_pos_embedding_groups=16,
                                position_buckets=256, max_position_embeddings=512)),
}


def median_time(fn, repeats: int, device: torch.device) -> float:
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()  # warm-up (allocator, oneDNN primitive caches, cuDNN algorithm choice)
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--shapes", nargs="*", default=list(SHAPES))
    ap.add_argument("--seconds", nargs="*", type=float, default=[1, 10, 30])
    ap.add_argument("--batches", nargs="*", type=int, default=[1, 8])
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    args = ap.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda":
        # strict float32 on both sides: PyTorch runs cuDNN convolutions in TF32 (10-bit mantissa)
        # by default, which alone put transformers' conv outputs 2-4e-4 from ours (our layer-norm
        # stack's convs are fp32 matmuls) on an H200; matmuls are fp32 by default already.
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    torch.set_num_threads(args.threads)
    import transformers

    from sewstream.model import load_model

    repeats = 3 if args.quick else 7
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{args.threads} threads"
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, {where}, float32, "
          f"median of {repeats}")
    header = f"{'model':<12} {'audio':>6} {'batch':>5} {'transformers':>13} {'sewstream':>10} {'speed-up':>9} " \
             f"{'x realtime':>11} {'max |diff|':>11}"
    print(header)
    print("-" * len(header))
    ratios = []
    for name in args.shapes:
        prefix, kwargs = SHAPES[name]
        config = getattr(transformers, f"{prefix}Config")(**kwargs, vocab_size=32)
        torch.manual_seed(0)
        ref = getattr(transformers, f"{prefix}ForCTC")(config).eval()
        with tempfile.TemporaryDirectory() as tmp:
            ref.save_pretrained(tmp)
            ours = load_model(tmp, device=str(device))
        ref.to(device)
        for seconds in args.seconds:
            for batch in args.batches:
                if seconds * batch > 120 and args.quick:
                    continue
                x = torch.randn(batch, int(seconds * 16000), device=device)
                with torch.inference_mode():
                    diff = (ref(x).logits - ours(x).logits).abs().max().item()
                    t_ref = median_time(lambda: ref(x), repeats, device)
                    t_ours = median_time(lambda: ours(x), repeats, device)
                ratios.append(t_ref / t_ours)
                print(f"{name:<12} {seconds:>5.0f}s {batch:>5} {1000 * t_ref:>11.1f}ms {1000 * t_ours:>8.1f}ms "
                      f"{t_ref / t_ours:>8.2f}x {seconds * batch / t_ours:>10.1f}x {diff:>11.2e}", flush=True)
    print(f"geometric mean speed-up: {statistics.geometric_mean(ratios):.2f}x (goal >= 1.5x, outputs within 1e-4)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
