"""sewstream: streaming speech recognition on SEW / SEW-D.

The package follows the path of one audio sample:
``audio`` (sources, ring buffer) -> ``stream`` (windows, model worker, merge,
endpointing) -> ``server`` (websocket fan-out), with ``model`` (SEW / SEW-D in
PyTorch) and ``text`` (feature extraction, CTC vocabulary) underneath.
"""

__version__ = "0.1.0"
