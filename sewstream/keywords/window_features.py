"""Conv features for overlapping classifier windows, each frame computed once.

A classifier window slides by ``hop_s`` over the stream, so most of the conv frames it needs
(46 of 49 at hop 0.06 s) were already computed for the windows before it. In a SEW model
with a layer-norm conv stack a frame's features depend only on its own 400 samples (no
per-window statistics), so they can be reused exactly: every frame is looked up by the bytes
of its samples and only unseen ones are computed. Nothing needs to know which stream or grid
a window came from: the same samples give the same features, whoever sent them. A hop of
whole frames (a multiple of 20 ms) reuses every overlapping frame; another hop reuses those
of earlier windows whose grid lines up (every other window at hop 0.25 s).

The conv encoder is about two thirds of a 1 s window's compute; ``scripts/bench_keywords.py
--part classifier`` measures the saving. The cache is an LRU bounded by ``max_frames``;
a miss only costs the compute.
"""

from __future__ import annotations

import collections
import hashlib
import threading

import torch

from sewstream.model import SEWForSequenceClassification

# 49 frames per 1 s window: room for the current windows of a few hundred streams (~1 KB each)
MAX_FRAMES = 16384


def can_share_frames(model: SEWForSequenceClassification, normalize: bool) -> bool:
    """Whether a frame's features are the same in every window that holds its samples: a
    layer-norm conv stack (group norm normalises over the whole window) and no per-window
    waveform normalisation."""
    return model.config.feat_extract_norm == "layer" and not normalize


class FrameCache:
    """``cache(windows)`` -> what ``model.backbone.features(windows)`` gives, frame by frame."""

    def __init__(self, model: SEWForSequenceClassification, max_frames: int = MAX_FRAMES) -> None:
        self.model = model
        self.stride = model.config.inputs_to_logits_ratio
        self.receptive = model.config.receptive_field
        self.max_frames = max_frames
        self.cache: collections.OrderedDict[bytes, torch.Tensor] = collections.OrderedDict()
        self.hits = self.misses = 0
        self.lock = threading.Lock()  # the worker thread and offline callers may share a model

    def __call__(self, windows: torch.Tensor) -> torch.Tensor:
        """(B, S) windows -> (B, frames, hidden) features on the model's device."""
        with self.lock:
            return self._features(windows)

    def _features(self, windows: torch.Tensor) -> torch.Tensor:
        rows = windows.detach().to("cpu", torch.float32).contiguous()
        frames = (rows.shape[1] - self.receptive) // self.stride + 1
        starts = range(0, frames * self.stride, self.stride)
        data = rows.numpy()
        keys = [[hashlib.blake2b(row[lo:lo + self.receptive].tobytes(), digest_size=16).digest() for lo in starts]
                for row in data]
        todo: dict[bytes, tuple[int, int]] = {}  # unseen frames, once each
        for b, row_keys in enumerate(keys):
            for lo, key in zip(starts, row_keys):
                if key in self.cache:
                    self.cache.move_to_end(key)
                    self.hits += 1
                elif key not in todo:
                    todo[key] = (b, lo)
                    self.misses += 1
        fresh: dict[bytes, torch.Tensor] = {}
        if todo:
            param = next(self.model.parameters())
            pieces = torch.stack([rows[b, lo:lo + self.receptive] for b, lo in todo.values()])
            feats = self.model.backbone.features(pieces.to(device=param.device, dtype=param.dtype))
            fresh = dict(zip(todo, feats[:, 0].clone()))  # own storage: the LRU bound is the memory bound
        out = torch.stack([torch.stack([fresh[k] if k in fresh else self.cache[k] for k in row_keys])
                           for row_keys in keys])
        self.cache.update(fresh)  # stored after use, so a batch never evicts its own frames
        while len(self.cache) > self.max_frames:
            self.cache.popitem(last=False)
        return out
