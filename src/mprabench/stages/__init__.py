"""Thin DVC stage entry points (`python -m mprabench.stages.<stage>`), one module per stage."""
