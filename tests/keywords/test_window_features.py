"""Conv frames shared between overlapping classifier windows: same probabilities, less compute."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sewstream.keywords.classifier import OfflineClassifier
from sewstream.keywords.window_features import FrameCache

from ..conftest import TINY_CTC

LABELS = ["_silence_", "_unknown_", "yes", "no"]


def layer_norm_classifier(path: Path, normalize: bool = False) -> Path:
    from sewstream.model import SEWConfig, build_model
    from sewstream.text import FeatureExtractor

    torch.manual_seed(0)
    config = SEWConfig(**{**TINY_CTC, "feat_extract_norm": "layer", "classifier_proj_size": 16},
                       id2label=dict(enumerate(LABELS)))
    build_model(config, "SEWForSequenceClassification").eval().save_pretrained(path)
    FeatureExtractor(do_normalize=normalize, return_attention_mask=True).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    return layer_norm_classifier(tmp_path_factory.mktemp("cls-layer"))


def windows(hop: int, count: int, seed: int = 0) -> np.ndarray:
    audio = (0.1 * np.random.default_rng(seed).standard_normal(16000 + hop * count)).astype(np.float32)
    return np.stack([audio[i * hop: i * hop + 16000] for i in range(count)])


def plain(model: OfflineClassifier, batch: np.ndarray) -> np.ndarray:
    with torch.inference_mode():
        return model.model(torch.from_numpy(batch)).logits.float().softmax(-1).numpy()


@pytest.mark.parametrize("hop", [960, 4000])  # whole frames (0.06 s), and not (0.25 s)
def test_sliding_windows_match_the_plain_forward(classifier_dir, hop):
    model = OfflineClassifier(classifier_dir)
    assert model.frames is not None
    batch = windows(hop, 6)
    one_by_one = np.stack([model.classify(w) for w in batch])
    np.testing.assert_allclose(one_by_one, plain(model, batch), atol=1e-6)
    np.testing.assert_allclose(model.classify(batch), plain(model, batch), atol=1e-6)  # all hits now


def test_each_window_computes_only_its_new_frames(classifier_dir):
    model = OfflineClassifier(classifier_dir)
    cache = model.frames
    batch = windows(960, 4)
    model.classify(batch[0])
    assert (cache.hits, cache.misses) == (0, 49)  # a 1 s window holds 49 frames
    model.classify(batch[1])
    assert (cache.hits, cache.misses) == (46, 52)  # 0.06 s later: 3 new frames
    model.classify(batch[2:])  # a batch: frames shared inside it are computed once
    assert cache.misses == 58


def test_a_hop_off_the_frame_grid_shares_with_every_other_window(classifier_dir):
    model = OfflineClassifier(classifier_dir)
    batch = windows(4000, 3)  # 12.5 frames: window 2 lies on window 0's frame grid, window 1 does not
    for w in batch:
        model.classify(w)
    assert model.frames.misses == 49 + 49 + (49 - 24)  # window 2 reuses frames 25-48 of window 0


def test_the_cache_is_bounded_and_stays_exact(classifier_dir):
    model = OfflineClassifier(classifier_dir)
    model.frames = FrameCache(model.model, max_frames=60)
    batch = windows(960, 8, seed=3)
    got = np.stack([model.classify(w) for w in batch])
    assert len(model.frames.cache) <= 60
    np.testing.assert_allclose(got, plain(model, batch), atol=1e-6)


def test_no_sharing_where_features_depend_on_the_window(tmp_path, classifier_dir):
    # per-window waveform normalisation, or a group-norm conv stack: the plain forward runs
    assert OfflineClassifier(layer_norm_classifier(tmp_path / "norm", normalize=True)).frames is None
    from .test_classifier import make_classifier

    group = OfflineClassifier(make_classifier(tmp_path / "group"))  # TINY_CTC: group norm
    assert group.frames is None
    batch = windows(960, 2)
    np.testing.assert_allclose(group.classify(batch), np.stack([group.classify(w) for w in batch]), atol=1e-6)


def test_windows_on_the_model_worker_share_frames(recognizer, classifier_dir):
    from sewstream.keywords.classifier import ClassifierModel

    model = ClassifierModel(classifier_dir, recognizer)
    batch = windows(1920, 3)
    got = np.stack([recognizer.worker.run(model.runner, torch.from_numpy(w)).numpy() for w in batch])
    np.testing.assert_allclose(got, plain(model, batch), atol=1e-6)
    assert model.frames.misses == 49 + 6 + 6


def test_the_registry_reports_frame_sharing_and_the_server_exports_it(recognizer, classifier_dir):
    from sewstream.keywords import KeywordRegistry
    from sewstream.server.metrics import Metrics

    from .test_classifier import settings, stream_events

    registry = KeywordRegistry(settings(classifier_dir), recognizer)  # hop 0.25: every other window shares
    stream_events(recognizer, registry.listeners("cls"), seconds=2.0)
    stats = registry.frame_stats()[str(classifier_dir)]
    assert stats["misses"] == 49 + 49 + 25 + 25 + 25  # windows ending at 1.0, 1.25, ... 2.0 s
    assert stats["hits"] == 5 * 49 - stats["misses"] and stats["cached"] == stats["misses"]
    text = Metrics(recognizer.worker, dict, lambda: True, None, registry.frame_stats).render().decode()
    assert f'sewstream_classifier_frames_total{{model="{classifier_dir}",outcome="hit"}} {stats["hits"]}.0' in text
    assert f'sewstream_classifier_frames_total{{model="{classifier_dir}",outcome="miss"}} {stats["misses"]}.0' in text
