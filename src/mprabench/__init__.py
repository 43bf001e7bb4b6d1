"""mprabench: a reproducible benchmark of DNA sequence models against MPRA data."""

__version__ = "0.1.0"
