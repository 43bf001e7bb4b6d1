"""The oligo name grammar of GSE84888 (PROTOCOL.md, "Oligo name grammar").

    {prefix}_{chrom}_{start}_{end}_{strand}_{motif}[_{design}]

`chrom/start/end` locate the PPARγ motif site in mm9 (0-based, half-open), `strand` is
the strand the motif reads on and `motif` the site as it reads on that strand. The
`design` part has one grammar per pool (`DesignGrammar`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mprabench.config import DesignGrammar
from mprabench.errors import InputDataError
from mprabench.schema import ELEMENT_ID, IS_WILD_TYPE, TF_LABELS

WILD_TYPE_LABEL = "wt"
# Pool7's designed spacings and replicates, as the protocol defines them.
PAIR_SPACINGS = frozenset({2, 4, 6})
PAIR_REPLICATES = frozenset({1, 2, 3})

_NAME = re.compile(
    r"^(?P<prefix>[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*?)"
    r"_(?P<chrom>chr[0-9A-Za-z]+(?:_random)?)"
    r"_(?P<start>\d+)_(?P<end>\d+)"
    r"_(?P<strand>[+-])"
    r"_(?P<motif>[ACGTacgt]+)"
    r"(?:_(?P<design>.+))?$"
)
_TF_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
_INTEGER = re.compile(r"^\d+$")


@dataclass(frozen=True)
class OligoName:
    """One parsed oligo name."""

    name: str
    prefix: str
    chrom: str
    start: int
    end: int
    strand: str
    motif: str
    design: str | None
    tf_labels: tuple[str, ...]
    is_wild_type: bool

    @property
    def element_id(self) -> str:
        """The base element: every oligo sharing prefix, site, strand and motif."""
        return f"{self.prefix}_{self.chrom}_{self.start}_{self.end}_{self.strand}_{self.motif}"


class NameGrammarError(InputDataError):
    def __init__(self, source: str, line: int, name: str, reason: str):
        super().__init__(
            f"{source}, line {line}: oligo name {name!r} does not fit the grammar "
            f"{{prefix}}_{{chrom}}_{{start}}_{{end}}_{{strand}}_{{motif}}[_{{design}}]: {reason}. "
            "Check that the file is an unmodified GSE84888 counts file and that its pool's "
            "design_grammar in conf/dataset/ is right."
        )


def parse_oligo_name(name: str, grammar: DesignGrammar, source: str = "<name>", line: int = 0) -> OligoName:
    """Parse one name; a malformed name raises NameGrammarError naming source, line and name."""
    match = _NAME.match(name)
    if match is None:
        raise NameGrammarError(source, line, name, "no {chrom}_{start}_{end}_{strand}_{motif} part")
    start, end = int(match["start"]), int(match["end"])
    motif = match["motif"].upper()
    if end <= start or end - start != len(motif):
        raise NameGrammarError(
            source, line, name, f"motif length {len(motif)} does not match [start, end) = [{start}, {end})"
        )
    design = match["design"]
    try:
        labels, wild_type = _design_labels(design, grammar)
    except ValueError as reason:
        raise NameGrammarError(source, line, name, str(reason)) from None
    return OligoName(
        name=name,
        prefix=match["prefix"],
        chrom=match["chrom"],
        start=start,
        end=end,
        strand=match["strand"],
        motif=motif,
        design=design,
        tf_labels=labels,
        is_wild_type=wild_type,
    )


def _design_labels(design: str | None, grammar: DesignGrammar) -> tuple[tuple[str, ...], bool]:
    """TF labels of a design and whether it is the element's wild type; ValueError if malformed."""
    if grammar is DesignGrammar.site_replacement:
        return _site_replacement_labels(design)
    return _pair_spacing_labels(design)


def _site_replacement_labels(design: str | None) -> tuple[tuple[str, ...], bool]:
    """Pool6: `{site_tf}_{from}_{to}_{replacement_tf}`, or `wt` for the restored wild type."""
    if design is None:
        raise ValueError("Pool6 names need a design (`wt` or {site_tf}_{from}_{to}_{replacement_tf})")
    if design == WILD_TYPE_LABEL:
        return (WILD_TYPE_LABEL,), True
    tokens = design.split("_")
    if len(tokens) != 4:
        raise ValueError(f"design {design!r} is not {{site_tf}}_{{from}}_{{to}}_{{replacement_tf}}")
    site, first, last, replacement = tokens
    _require_label(site, "site_tf")
    _require_label(replacement, "replacement_tf")
    if not (_INTEGER.match(first) and _INTEGER.match(last)) or int(first) >= int(last):
        raise ValueError(f"design {design!r}: oligo positions {first}..{last} are not increasing integers")
    return _unique(site, replacement), False


def _pair_spacing_labels(design: str | None) -> tuple[tuple[str, ...], bool]:
    """Pool7: `{tf1}_{tf2}_{spacing}_{replicate}`, or no design for the unperturbed element."""
    if design is None:
        return (WILD_TYPE_LABEL,), True
    tokens = design.split("_")
    if len(tokens) != 4:
        raise ValueError(f"design {design!r} is not {{tf1}}_{{tf2}}_{{spacing}}_{{replicate}}")
    first, second, spacing, replicate = tokens
    _require_label(first, "tf1")
    _require_label(second, "tf2")
    if not _INTEGER.match(spacing) or int(spacing) not in PAIR_SPACINGS:
        raise ValueError(f"design {design!r}: spacing {spacing!r} not in {sorted(PAIR_SPACINGS)}")
    if not _INTEGER.match(replicate) or int(replicate) not in PAIR_REPLICATES:
        raise ValueError(f"design {design!r}: replicate {replicate!r} not in {sorted(PAIR_REPLICATES)}")
    return _unique(first, second), False


def _require_label(token: str, role: str) -> None:
    if not _TF_LABEL.match(token):
        raise ValueError(f"{role} {token!r} is not a TF label (letters, then letters or digits)")


def _unique(*labels: str) -> tuple[str, ...]:
    """Labels in order of appearance, each once (a `cebp_cebp` pair is one label)."""
    return tuple(dict.fromkeys(labels))


def parse_oligo_names(names: pd.Series, grammar: DesignGrammar, source: str, first_line: int) -> pd.DataFrame:
    """Parse a whole column at once: one regex pass, each distinct design parsed once.

    Columns: prefix, chrom, start, end, strand, motif, design, element_id, tf_labels,
    is_wild_type. The first malformed name raises NameGrammarError exactly as
    `parse_oligo_name` would (it is re-parsed one by one for the message).
    """
    parts = names.str.extract(_NAME)
    designs = parts["design"].astype(object).where(parts["design"].notna(), None)
    parsed_designs = {d: _try_design(d, grammar) for d in pd.unique(designs)}
    bad = parts["chrom"].isna()
    bad |= (parts["end"].astype(float) - parts["start"].astype(float)) != parts["motif"].str.len()
    bad |= designs.map(lambda d: parsed_designs[d] is None)
    if bad.any():
        index = int(np.flatnonzero(bad.to_numpy())[0])
        parse_oligo_name(names.iloc[index], grammar, source, first_line + index)
        raise AssertionError(f"{source}: vectorised and scalar name parsing disagree on line {first_line + index}")
    parts["start"], parts["end"] = parts["start"].astype(np.int64), parts["end"].astype(np.int64)
    parts["motif"] = parts["motif"].str.upper()
    parts["design"] = designs
    parts[ELEMENT_ID] = (parts["prefix"] + "_" + parts["chrom"] + "_" + parts["start"].astype(str) + "_"
                           + parts["end"].astype(str) + "_" + parts["strand"] + "_" + parts["motif"])
    parts[TF_LABELS] = designs.map(lambda d: list(parsed_designs[d][0]))
    parts[IS_WILD_TYPE] = designs.map(lambda d: parsed_designs[d][1]).astype(bool)
    return parts


def _try_design(design: str | None, grammar: DesignGrammar) -> tuple[tuple[str, ...], bool] | None:
    try:
        return _design_labels(design, grammar)
    except ValueError:
        return None
