"""ENCODE/IGVF MPRA element quantifications (`mpra_element`, BED6+5), one file per assay.

Columns, tab-separated, no header (a `#` or `track`/`browser` line is skipped): chrom, chromStart,
chromEnd, name, score, strand, log2FoldChange, inputCount, outputCount, minusLog10PValue,
minusLog10QValue. One row is one tested element in one orientation (strand); rows at the same
coordinates are one element. Activity is log2FoldChange. Sequences are not in the file: an
experiment with `inputs: reference` reads them from the reference genome (conf/genome/).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mprabench.errors import InputDataError
from mprabench.readers.base import ReadLibrary, measured_sequence_columns
from mprabench.config import MpraElementConfig
from mprabench.readers.sequence_table import UNCLASSIFIED
from mprabench.schema import (
    CHROM,
    ELEMENT_CLASS,
    ELEMENT_ID,
    END,
    ORIENTATION,
    ORIENTATION_FORWARD,
    ORIENTATION_REVERSE,
    PLASMID,
    POOL,
    RNA,
    ROW_ID,
    START,
    STRAND,
)

BED_COLUMNS = ("chrom", "chromStart", "chromEnd", "name", "score", "strand", "log2FoldChange", "inputCount",
               "outputCount", "minusLog10PValue", "minusLog10QValue")
NUMERIC = ("chromStart", "chromEnd", "log2FoldChange", "inputCount", "outputCount")
STRANDS = {"+": ORIENTATION_FORWARD, "-": ORIENTATION_REVERSE, ".": None}


def read(dataset: MpraElementConfig, raw_dir: Path) -> ReadLibrary:
    frames = [read_bed(raw_dir / spec.name, dataset) for spec in dataset.files]
    oligos = pd.concat(frames, ignore_index=True)
    duplicated = oligos[ROW_ID].duplicated(keep=False)
    if duplicated.any():
        raise InputDataError(f"element {oligos.loc[duplicated, ROW_ID].iloc[0]!r} (name and strand) occurs more "
                             f"than once ({int(duplicated.sum())} rows); each element is measured once per strand")
    details = {"reader": "mpra_element", "assembly": dataset.assembly,
               "elements": int(oligos[ELEMENT_ID].nunique()),
               "rows_by_class": {str(k): int(v) for k, v in oligos[ELEMENT_CLASS].value_counts().items()}}
    return ReadLibrary(oligos, len(oligos), {}, None, details)


def read_bed(path: Path, dataset: MpraElementConfig) -> pd.DataFrame:
    if not path.is_file():
        raise InputDataError(f"{path}: element file not found. Run the fetch stage first (`dvc repro fetch`).")
    lines = path.read_text().splitlines()
    body = [(n, line) for n, line in enumerate(lines, start=1)
            if line and not line.startswith(("#", "track", "browser"))]
    records = []
    for n, line in body:
        cells = line.split("\t")
        if len(cells) != len(BED_COLUMNS):
            raise InputDataError(f"{path}, line {n}: {len(cells)} tab-separated columns, expected the "
                                 f"{len(BED_COLUMNS)} of BED6+5 mpra_element ({', '.join(BED_COLUMNS)})")
        records.append(cells)
    table = pd.DataFrame(records, columns=list(BED_COLUMNS))
    line_numbers = np.array([n for n, _ in body])
    for column in NUMERIC:
        values = pd.to_numeric(table[column], errors="coerce")
        bad = values.isna().to_numpy() | ~np.isfinite(values.to_numpy(float))
        if bad.any():
            index = int(np.flatnonzero(bad)[0])
            raise InputDataError(f"{path}, line {int(line_numbers[index])}, column {column}: "
                                 f"{table[column].iloc[index]!r} is not a number")
        table[column] = values
    unknown = ~table["strand"].isin(list(STRANDS))
    if unknown.any():
        index = int(np.flatnonzero(unknown.to_numpy())[0])
        raise InputDataError(f"{path}, line {int(line_numbers[index])}, column strand: "
                             f"{table['strand'].iloc[index]!r} is not +, - or .")
    element = table["chrom"] + ":" + table["chromStart"].astype("int64").astype(str) + "-" + \
        table["chromEnd"].astype("int64").astype(str)
    element_class = pd.Series(UNCLASSIFIED, index=table.index, dtype=object)
    open_rows = np.ones(len(table), dtype=bool)
    for rule in dataset.class_patterns:
        hit = table["name"].str.contains(rule.pattern, regex=True).to_numpy(dtype=bool) & open_rows
        element_class[hit] = rule.name
        open_rows &= ~hit
    log2 = table["log2FoldChange"].to_numpy(float)
    n = len(table)
    return pd.DataFrame({
        ROW_ID: (table["name"] + "(" + table["strand"] + ")").to_numpy(), POOL: path.name,
        ELEMENT_ID: element.to_numpy(), CHROM: table["chrom"].to_numpy(),
        START: table["chromStart"].astype("int64").to_numpy(), END: table["chromEnd"].astype("int64").to_numpy(),
        STRAND: table["strand"].to_numpy(),
        RNA: table["outputCount"].round().astype("Int64").to_numpy(),
        PLASMID: table["inputCount"].round().astype("Int64").to_numpy(),
        **measured_sequence_columns(n, log2),
        ORIENTATION: table["strand"].map(STRANDS).to_numpy(), ELEMENT_CLASS: element_class.to_numpy(),
    })
