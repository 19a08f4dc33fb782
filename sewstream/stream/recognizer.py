"""A loaded CTC model with its processor and worker: makes streams and offline transcripts."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from sewstream.model import SEWForCTC, load_model
from sewstream.text import CTCTokenizer, FeatureExtractor

from .decode import Vocabulary
from .events import Event
from .plan import Geometry
from .rescore import FinalRescorer
from .runners import ctc_runners, pick_device
from .stream import Stream, StreamSettings
from .worker import ModelWorker

if TYPE_CHECKING:
    from sewstream.text.beam_search import BeamSearchDecoder


class Recognizer:
    """One model on one device, shared by every stream through one ModelWorker thread."""

    def __init__(self, model: SEWForCTC, tokenizer: CTCTokenizer, features: FeatureExtractor, *,
                 max_batch: int = 16, max_wait_ms: float = 5.0, name: str = "model",
                 path: str | Path | None = None) -> None:
        if not isinstance(model, SEWForCTC):
            raise TypeError(f"a CTC model is needed for transcription, got {type(model).__name__}")
        self.model, self.tokenizer, self.feature_extractor = model.eval(), tokenizer, features
        self.name, self.path = name, path  # path: the checkpoint directory, when loaded from one
        self.rescorer: FinalRescorer | None = None  # see use_lm()
        self.config = model.config
        self.geometry = Geometry.of(model.config)
        self.vocab = Vocabulary.from_tokenizer(tokenizer)
        # Conv features of a frame depend on its own samples only when every conv layer
        # normalises per frame and the input is not normalised per window: then they can
        # be computed once and cached exactly. Otherwise every window recomputes them.
        self.exact_features = model.config.feat_extract_norm == "layer" and not features.do_normalize
        self.worker = ModelWorker(ctc_runners(model), max_batch=max_batch, max_wait_ms=max_wait_ms)
        self._names = threading.Lock()
        self._count = 0

    @classmethod
    def from_pretrained(cls, path: str | Path, *, device: str = "auto", dtype: str | None = None,
                        **kwargs) -> Recognizer:
        dev = pick_device(device)
        if dtype is None:
            dtype = "float16" if dev.type == "cuda" else "float32"
        model = load_model(path, device=dev, dtype=dtype)
        directory = Path(model_dir(path))
        tokenizer = CTCTokenizer.from_pretrained(directory, frame_seconds=Geometry.of(model.config).seconds(1))
        features = (FeatureExtractor.from_pretrained(directory)
                    if (directory / "preprocessor_config.json").exists() else FeatureExtractor())
        return cls(model, tokenizer, features, name=directory.name, path=directory, **kwargs)

    # ------------------------------------------------------------------ windows
    def prepare_window(self, audio: np.ndarray) -> np.ndarray:
        """Raw 16 kHz audio -> model input (per-window normalisation if the model wants it)."""
        audio = np.asarray(audio, dtype=np.float32)
        if self.feature_extractor.do_normalize:
            audio = (audio - audio.mean()) / np.sqrt(audio.var() + 1e-7)
        return audio

    def stream(self, name: str | None = None, settings: StreamSettings | None = None,
               on_event: Callable[[Event], None] | None = None, **kwargs) -> Stream:
        with self._names:
            self._count += 1
            name = name or f"stream-{self._count}"
        kwargs.setdefault("rescorer", self.rescorer)
        return Stream(name, self, settings, on_event, **kwargs)

    def use_lm(self, decoder: BeamSearchDecoder, max_pending: int = 32) -> None:
        """Re-decode every stream's finals with ``decoder`` (a word LM), on one rescorer thread."""
        if self.rescorer is not None:
            self.rescorer.close()
        self.rescorer = FinalRescorer(decoder, self.geometry.seconds(1), max_pending)

    def logits(self, audio: np.ndarray) -> np.ndarray:
        """Full-context logits of one utterance (one forward pass), (frames, vocab)."""
        if len(audio) < self.geometry.field:
            return np.zeros((0, self.config.vocab_size), np.float32)
        return self.worker.run("logits", torch.from_numpy(self.prepare_window(audio))).numpy()

    def close(self) -> None:
        self.worker.close()
        if self.rescorer is not None:
            self.rescorer.close()


def model_dir(path: str | Path) -> Path:
    from sewstream.model.checkpoint import resolve_checkpoint
    return resolve_checkpoint(path)
