"""Bounded reading of delimited text tables: a hostile header is refused before pandas sees it.

pandas renames duplicate column names in quadratic time, so a one-line file with 100,000
fields takes minutes to parse; the header is counted here first, from a bounded prefix of
line 1. Data lines with more fields than the header are already a fast pandas ParserError.
"""

from __future__ import annotations

from pathlib import Path

from mprabench.errors import InputDataError

_BYTES_PER_FIELD = 256  # line 1 is read up to max_columns * this many bytes


def check_header_width(path: Path, separator: str, max_columns: int, setting: str) -> None:
    """Refuse a table whose first line has more than `max_columns` fields (names the file and line)."""
    with open(path, "rb") as handle:
        prefix = handle.readline(max_columns * _BYTES_PER_FIELD)
    fields = prefix.count(separator.encode()) + 1
    if fields > max_columns:
        raise InputDataError(
            f"{path}, line 1: {fields:,} or more fields, more than {setting} = {max_columns:,}. This is not a "
            "table of the expected layout (a wrong file, or one line holding a whole file?); check it."
        )
