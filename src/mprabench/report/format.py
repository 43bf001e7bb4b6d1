"""Formatting for report.md: the one value formatter, GitHub-flavoured tables, not-estimable reasons."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from mprabench.plots.style import NOT_ESTIMABLE

UNKNOWN = "unknown"  # a missing fact in prose or a generic table (n.e. is for estimates)
# A value computed but not printed: this design's calibration shows its p or interval failing (summary.json
# gives `<check>_reason` beside it; mprabench.headline).
WITHHELD = "withheld"


def fmt(value: Any, digits: int = 3, none: str = NOT_ESTIMABLE) -> str:
    """Any value in a cell or sentence: r to `digits` decimals, small numbers in scientific notation,
    integers with thousands separators, booleans as yes/no, lists joined; None as `none`."""
    if value is None:
        return none
    if is_missing(value):
        return NOT_ESTIMABLE
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float) and value != 0 and abs(value) < 10 ** (-digits):
        return f"{value:.2e}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


def is_missing(value: Any) -> bool:
    """None or a non-finite float: a value that was not estimated."""
    return value is None or (isinstance(value, float) and not math.isfinite(value))


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 feature', '6 features' (never '1 features')."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def escape_cell(text: Any) -> str:
    """A table cell: pipes escaped and line breaks flattened, so the row stays one GFM row."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(escape_cell(h) for h in header) + " |",
             "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(escape_cell(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


class Reasons:
    """Collects the reason of every n.e. cell; each distinct reason gets one letter."""

    def __init__(self) -> None:
        self.letters: dict[str, str] = {}
        self.labels: dict[str, str] = {}
        self.where: dict[str, list[str]] = {}

    def mark(self, reason: str, where: str, label: str = NOT_ESTIMABLE) -> str:
        """``label`` (letter): n.e., or WITHHELD for a value computed but not printed (its calibration failed)."""
        if reason not in self.letters:
            self.letters[reason] = chr(ord("a") + len(self.letters) % 26)
            self.labels[reason] = label
        self.where.setdefault(reason, []).append(where)
        return f"{label} ({self.letters[reason]})"

    def cell(self, value: Any, reason: str, where: str, digits: int = 3, label: str = NOT_ESTIMABLE) -> str:
        """`value` formatted, or ``label`` (n.e. or withheld) with the letter of its reason."""
        return self.mark(reason, where, label) if is_missing(value) else fmt(value, digits)

    def legend(self) -> str:
        if not self.letters:
            return ""
        lines = [f"- {self.labels[reason]} ({letter}) — {reason} ({', '.join(dict.fromkeys(self.where[reason]))})"
                 for reason, letter in self.letters.items()]
        kinds = "not-estimable or withheld" if WITHHELD in self.labels.values() else "not-estimable"
        return f"Why each {kinds} cell is empty:\n\n" + "\n".join(lines)
