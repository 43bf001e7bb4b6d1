"""Data sources: where the counts, design and reference sequence come from (GEO, UCSC, local)."""
