"""Dataset readers: one per file layout, selected by `dataset.reader` (readers/registry.py)."""
