"""FASTA files the pipeline writes and reads back (records on one line each; read with pyfaidx)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pyfaidx

from mprabench.errors import InputDataError
from mprabench.files import atomic_path


FASTA_WRITE_BLOCK = 4096  # records joined per write (~8 MB of 2 kb inputs)


def write_fasta(path: Path, records: Mapping[str, str]) -> None:
    """Write records atomically, sorted by name, and drop any stale pyfaidx index."""
    names = sorted(records)
    with atomic_path(path) as temporary:
        with open(temporary, "w", encoding="ascii") as handle:
            # Blocks of records in one write each: 200,000 records of 2 kb, without one 400 MB string.
            for start in range(0, len(names), FASTA_WRITE_BLOCK):
                handle.write("".join(f">{name}\n{records[name]}\n" for name in names[start:start + FASTA_WRITE_BLOCK]))
    Path(f"{path}.fai").unlink(missing_ok=True)


def read_fasta(path: Path) -> dict[str, str]:
    """Every record of a FASTA, upper-cased; an empty file has none."""
    if not path.is_file() or path.stat().st_size == 0:
        return {}
    try:
        with pyfaidx.Fasta(str(path), as_raw=True, sequence_always_upper=True) as fasta:
            return {name: str(fasta[name][:]) for name in fasta.keys()}
    except pyfaidx.FastaIndexingError as error:
        raise InputDataError(f"{path}: not a FASTA file ({error}); delete it and rerun the stage that writes it.") from None
    except OSError as error:  # e.g. the index (.fai) beside it cannot be written
        raise InputDataError(f"{path}: cannot be read or indexed ({error}); make its folder writable.") from None
