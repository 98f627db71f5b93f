"""Anchor points: records, loading (the only data I/O), presets, tokenisation with masking, split."""
