"""Typed schemas of the dataset sections that readers other than GSE84888's take (config.py rules apply:
every value lives in conf/dataset/, a field declares its type and range and has no default)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from omegaconf import MISSING

from mprabench.config import AssayBiosampleConfig, DataFile, HttpConfig


class ActivityScale(str, enum.Enum):
    """What the activity column holds: a log2 ratio (log2_ratio = value, activity = 2**value) or a ratio."""

    log2 = "log2"
    linear = "linear"


@dataclass
class TableColumns:
    """Which column of the table holds what; null: the table has no such column."""

    id: str | None = MISSING  # null: rows are named `line <n>` (a layout without ids)
    sequence: str = MISSING
    activity: str = MISSING
    element: str | None = MISSING  # null: from id_pattern, else from the coordinates, else the id
    orientation: str | None = MISSING  # null: from id_pattern's `orientation` group, if any
    element_class: str | None = MISSING  # null: from class_patterns on the id
    chrom: str | None = MISSING
    start: str | None = MISSING
    end: str | None = MISSING
    strand: str | None = MISSING


@dataclass
class OrientationValues:
    """Values of the orientation column (or of id_pattern's `orientation` group; "" when it matched nothing)."""

    forward: list[str] = MISSING
    reverse: list[str] = MISSING


@dataclass
class ClassPattern:
    """An element class and the regular expression an id of that class matches (searched, first rule wins)."""

    name: str = MISSING
    pattern: str = MISSING


@dataclass
class SequenceTableConfig:
    """`dataset.reader: sequence_table`: a TSV/CSV (plain or gzipped) of id, sequence and activity."""

    name: str = MISSING
    reader: str = MISSING
    # A folder, base URL or file:// URL holding `files`; or, with `files: []`, the one table itself.
    source: str = MISSING
    remote_suffix: str = MISSING
    files: list[DataFile] = MISSING
    http: HttpConfig = MISSING
    assay_biosample: AssayBiosampleConfig = MISSING
    # A separate library-design file fetched beside the data (GSE84888's V3); null here, where the
    # table holds the sequences. Every dataset section has it: the fetch stage depends on it.
    design: str | None = MISSING
    separator: str | None = MISSING  # null: `,` for *.csv(.gz), tab otherwise
    columns: TableColumns = MISSING
    # Further columns the layout must have although none is read (e.g. `fold`): checked with the
    # mapped ones, so a file of another layout fails naming what it has and what is missing.
    required_columns: list[str] = MISSING
    # A regular expression fully matching every id, with a named group `element` and optionally
    # `orientation`; null: element and orientation come from columns.
    id_pattern: str | None = MISSING
    orientation_values: OrientationValues = MISSING
    class_patterns: list[ClassPattern] = MISSING
    activity_scale: ActivityScale = MISSING
    assembly: str | None = MISSING  # of the coordinate columns, when there are any


@dataclass
class MpraElementConfig:
    """`dataset.reader: mpra_element`: ENCODE/IGVF MPRA element quantifications (BED6+5).

    Sequences come from the reference genome (conf/genome/) by an experiment with
    `inputs: reference`."""

    name: str = MISSING
    reader: str = MISSING
    source: str = MISSING
    remote_suffix: str = MISSING
    files: list[DataFile] = MISSING
    http: HttpConfig = MISSING
    assay_biosample: AssayBiosampleConfig = MISSING
    design: str | None = MISSING  # null: sequences come from the reference genome
    assembly: str = MISSING
    class_patterns: list[ClassPattern] = MISSING
