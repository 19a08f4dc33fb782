"""Where the embedded default model lives, and how a model argument is resolved."""

from __future__ import annotations

from pathlib import Path

DEFAULT_MODEL_DIR = Path(__file__).parent / "assets" / "default-model"
KEYWORD_CLASSIFIER_DIR = Path(__file__).parent / "assets" / "keyword-classifier"


class NoModelError(RuntimeError):
    pass


def resolve_model(path: str | None) -> str:
    """The given checkpoint, or the model shipped inside the package."""
    if path:
        return path
    if (DEFAULT_MODEL_DIR / "config.json").is_file():
        return str(DEFAULT_MODEL_DIR)
    raise NoModelError(f"no --model given and this installation has no embedded default model "
                       f"(expected {DEFAULT_MODEL_DIR}); pass --model DIR with a SEW/SEW-D CTC checkpoint")


def embedded_keyword_classifier() -> str | None:
    """The keyword classifier shipped inside the package (yes / no / down / stop / go), if any."""
    return str(KEYWORD_CLASSIFIER_DIR) if (KEYWORD_CLASSIFIER_DIR / "config.json").is_file() else None
