"""Audio input: sources, ring buffers, resampling and channel mixing."""
