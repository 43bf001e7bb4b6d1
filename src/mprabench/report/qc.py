"""The report's "Quality control" section in words: each count of qc.json and qc_details.json with
what it means, never a raw key.

Every key prepare can write is covered by one entry of :data:`WORDING` (a pattern of its dotted
path in qc.json or qc_details.json; `*` stands for a name taken from the data: a pool, an element,
a class, an exclusion reason the list below names). An entry says its sentence, or returns None
when it has nothing to add for this run (e.g. a zero count another sentence already states).
tests/test_report_qc.py runs prepare on every dataset layout and fails on a key without wording;
a key written by a newer prepare that has none yet is still shown, in a last list naming it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mprabench.report.format import UNKNOWN, fmt, plural, table
from mprabench.schema import MOTIF_N_RUN, MOTIF_SEQUENCE_MISMATCH, QC_MOTIF_CHECKED, QC_MOTIF_MISMATCHES
from mprabench.tracking import flatten

QC, DETAILS = "qc.json", "qc_details.json"
ACTIVITY = "activity"
DROPOUT = "zero_rna_dropout"

CPM_METHOD = "cpm_log2_ratio"
# Why a name's motif is not at its reference position (sequences.motif_mismatch_reason), in words.
MOTIF_REASONS = {MOTIF_N_RUN: "the reference has N (unknown) bases there",
                 MOTIF_SEQUENCE_MISMATCH: "the reference sequence differs from the name's motif"}


@dataclass(frozen=True)
class Exclusion:
    """A reason qc.json `excluded` counts rows under: what it means after "{n} rows", and the check in
    a few words (for the one sentence naming the checks that left nothing out)."""

    counted: str
    check: str
    cpm_only: bool = False  # a filter only the CPM activity method runs (the raw method keeps every row)


EXCLUSIONS: dict[str, Exclusion] = {
    "tags_below_min": Exclusion("had fewer barcodes than dataset.activity.min_tags; excluded (the CPM method's "
                                "filter)", "fewer barcodes than dataset.activity.min_tags", cpm_only=True),
    "plasmid_below_min": Exclusion("had fewer plasmid reads than dataset.activity.min_plasmid; excluded (the CPM "
                                   "method's filter)", "fewer plasmid reads than dataset.activity.min_plasmid",
                                   cpm_only=True),
    "missing_activity": Exclusion("had an empty activity cell in the table; excluded", "an empty activity cell"),
    "outside_dataset_subset": Exclusion("lie outside the part of the library dataset.subset selects; left out",
                                        "outside dataset.subset"),
    "missing_design_sequence": Exclusion("have no sequence in the library design (dataset.design); excluded, the "
                                         "model could not see their variant", "no sequence in the library design"),
    "no_wild_type_design": Exclusion("belong to elements without a wild-type oligo in the design; excluded (a "
                                     "variant is placed where its wild type matches the reference)",
                                     "an element without a wild-type oligo in the design"),
    "wild_type_not_in_reference": Exclusion("belong to elements whose wild-type oligo is not found exactly once in "
                                            "the reference window; excluded",
                                            "a wild-type oligo not found exactly once in the reference"),
}


@dataclass(frozen=True)
class Facts:
    """qc.json and qc_details.json of one run, read by dotted path."""

    qc: Mapping[str, Any]
    details: Mapping[str, Any]

    def get(self, path: str, default: Any = None) -> Any:
        file, _, dotted = path.partition(":")
        value: Any = self.qc if file == QC else self.details
        for part in dotted.split("."):
            if not isinstance(value, Mapping) or part not in value:
                return default
            value = value[part]
        return value


@dataclass(frozen=True)
class Wording:
    keys: tuple[str, ...]  # `<file>:<dotted path>` patterns this entry puts in words
    say: Callable[[Facts], str | None]


def _n(value: Any) -> str:
    return fmt(value, none=UNKNOWN)


def _rows(n: Any) -> str:
    return plural(n, "row") if isinstance(n, int) else f"{_n(n)} rows"


def _read(facts: Facts) -> str | None:
    rows_in = facts.get(f"{QC}:rows_in")
    if rows_in is None:
        return None
    reader = facts.get(f"{DETAILS}:{ACTIVITY}.reader")
    files = facts.get(f"{DETAILS}:{ACTIVITY}.files")
    source = f" from {', '.join(map(str, files))}" if files else ""
    by = f" (reader `{reader}`)" if reader else ""
    length = facts.get(f"{DETAILS}:{ACTIVITY}.insert_length")
    inserts = f", each a measured insert of {_n(length)} nt" if length else ""
    assembly = facts.get(f"{DETAILS}:{ACTIVITY}.assembly")
    coordinates = f", with {assembly} coordinates" if assembly else ""
    elements = facts.get(f"{DETAILS}:{ACTIVITY}.elements")
    grouped = f", grouped into {plural(elements, 'element')}" if isinstance(elements, int) else ""
    return f"{_rows(rows_in)} were read{source}{by}{inserts}{coordinates}{grouped}."


def _method(facts: Facts) -> str | None:
    method = facts.get(f"{DETAILS}:{ACTIVITY}.method")
    if method is None:
        return None
    meaning = {"raw_log2_ratio": "log2((RNA + 1) / (plasmid + 1)) on raw counts, as the original analysis; no "
                                 "barcode or plasmid filter",
               "cpm_log2_ratio": "log2 of RNA over plasmid counts per million of each pool, with barcode and "
                                 "plasmid filters"}.get(str(method), str(method))
    return f"Activity: {meaning} (dataset.activity.method = {method})."


def _excluded(reason: str) -> Callable[[Facts], str | None]:
    def say(facts: Facts) -> str | None:
        n = facts.get(f"{QC}:excluded.{reason}")
        if not n:
            return None  # zero: listed once by _nothing_excluded
        return f"{_rows(n)} {EXCLUSIONS[reason].counted}."
    return say


def _ran(facts: Facts, reason: str) -> bool:
    """Whether the check behind a reason ran: the CPM filters do not under the raw method."""
    return not EXCLUSIONS[reason].cpm_only or facts.get(f"{DETAILS}:{ACTIVITY}.method") == CPM_METHOD


def _nothing_excluded(facts: Facts) -> str | None:
    zero = [r for r, n in (facts.get(f"{QC}:excluded") or {}).items() if n == 0 and r in EXCLUSIONS and _ran(facts, r)]
    if not zero:
        return None
    return f"No row was left out for {'; '.join(EXCLUSIONS[r].check for r in zero)}."


def _dropouts(facts: Facts) -> str | None:
    rule = facts.get(f"{DETAILS}:{ACTIVITY}.{DROPOUT}")
    flagged = facts.get(f"{QC}:excluded.{DROPOUT}")
    if not isinstance(rule, Mapping):
        if flagged is None:
            return None
        return (f"{_rows(flagged)} were zero-RNA dropouts (0 RNA reads although delivered); excluded from the headline."
                if flagged else "No row was flagged as a zero-RNA dropout (0 RNA reads although delivered).")
    what = (f"0 RNA reads with ≥ {_n(rule.get('min_plasmid'))} plasmid reads and ≥ {_n(rule.get('min_tags'))} "
            "barcodes (zero-RNA dropouts: delivered, by the plasmid reads and barcodes, yet absent from the RNA)")
    candidates = rule.get("candidates")
    zero_rna = facts.get(f"{DETAILS}:{ACTIVITY}.zero_rna_rows")
    in_all = f"; {_rows(zero_rna)} had 0 RNA reads in all" if zero_rna is not None else ""
    if not candidates:
        return f"No row had {what}{in_all}."
    if rule.get("exclude"):
        text = (f"{_rows(candidates)} had {what}{in_all}. The {_n(rule.get('flagged', flagged))} dropouts are "
                "excluded from the headline; the sensitivity analysis keeps them (set by "
                "dataset.activity.zero_rna_dropout.exclude).")
    else:
        text = (f"{_rows(candidates)} had {what}{in_all}. They are kept in the headline: "
                "dataset.activity.zero_rna_dropout.exclude is false.")
    tags, plasmid = rule.get("candidate_median_tags"), rule.get("candidate_median_plasmid")
    return text + (f" Their median: {_count(tags)} barcodes and {_count(plasmid)} plasmid reads"
                   f"{_by('pool', rule.get('candidates_by_pool'))}.")


def _count(value: Any) -> str:
    """A count the JSON holds as a float (a median of counts): without decimals when whole."""
    if isinstance(value, float) and value.is_integer():
        return _n(int(value))
    return _n(value)


def _by(kind: str, counts: Any) -> str:
    if not isinstance(counts, Mapping) or not counts:
        return ""
    return f"; by {kind}: " + ", ".join(f"{name} {_n(n)}" for name, n in counts.items())


def _dropout_elements(facts: Facts) -> str | None:
    counts = facts.get(f"{DETAILS}:{ACTIVITY}.{DROPOUT}.candidates_by_element")
    if not isinstance(counts, Mapping) or not counts:
        return None
    return (f"The zero-RNA dropouts come from {plural(len(counts), 'element')}:\n\n"
            + table(["element", "dropout rows"], [(f"`{e}`", _n(n)) for e, n in counts.items()]))


def _kept(facts: Facts) -> str | None:
    used, rows, elements, inputs = (facts.get(f"{QC}:{k}") for k in ("rows_used", "benchmark_rows", "elements",
                                                                     "distinct_inputs"))
    if rows is None:
        return None
    elements_text = plural(elements, "base element") if isinstance(elements, int) else f"{_n(elements)} base elements"
    inputs_text = plural(inputs, "distinct model input") if isinstance(inputs, int) else f"{_n(inputs)} distinct inputs"
    return (f"The benchmark has {_rows(rows)} from {elements_text} (the unit of replication) and {inputs_text}; "
            f"the headline rests on {_n(used)} measured oligo rows (the oligos behind the element targets, without "
            "excluded dropouts).")


def _without_target(facts: Facts) -> str | None:
    elements = facts.get(f"{DETAILS}:elements_without_target")
    if not elements:
        return None
    return (f"{plural(len(elements), 'element')} had no target, every oligo a zero-RNA dropout, and "
            f"{'is' if len(elements) == 1 else 'are'} left out: {', '.join(f'`{e}`' for e in elements)}.")


def _pools(facts: Facts) -> str | None:
    pools = facts.get(f"{DETAILS}:{ACTIVITY}.pools")
    offset = facts.get(f"{QC}:pool_offset_log2", facts.get(f"{DETAILS}:{ACTIVITY}.pool_offset_log2"))
    if not isinstance(pools, Mapping) or not pools:
        return None if offset is None else f"The pools' activity differs by {_n(offset)} log2 units."
    centre = facts.get(f"{DETAILS}:{ACTIVITY}.pool_centre", "median")
    normalised = facts.get(f"{DETAILS}:{ACTIVITY}.normalised_within_pool")
    action = ("each pool's centre is subtracted from its rows before evaluation "
              "(dataset.activity.normalise_within_pool)" if normalised
              else "not subtracted (dataset.activity.normalise_within_pool is false)")
    if len(pools) == 1:
        sentence = f"One pool, {next(iter(pools))}: no offset between pools."
    else:
        sentence = (f"The {len(pools)} pools' {centre} log2 ratios differ by {fmt(offset, 2, none=UNKNOWN)} log2 "
                    f"units; {action}.")
    sentence += (" Per pool, from the rows kept (the last column compares sequencing depth: log2 of all RNA reads "
                 "over all plasmid reads):")
    rows = [(name, _n(p.get("rows")), _n(p.get("mean_log2_ratio")), _n(p.get("median_log2_ratio")),
             _n(p.get("subtracted")), _n(p.get("log2_total_rna_over_plasmid"))) for name, p in pools.items()]
    return sentence + "\n\n" + table(["pool", "rows", "mean log2 ratio", "median log2 ratio", "subtracted",
                                       "log2 RNA / plasmid reads"], rows)


def _composition(key: str, what: str, unit: str = "rows") -> Callable[[Facts], str | None]:
    def say(facts: Facts) -> str | None:
        counts = facts.get(f"{DETAILS}:{ACTIVITY}.{key}")
        if not isinstance(counts, Mapping) or not counts:
            return None
        return f"{unit.capitalize()} by {what}: " + ", ".join(f"{name} {_n(n)}" for name, n in counts.items()) + "."
    return say


def _elements_by_rows(facts: Facts) -> str | None:
    counts = facts.get(f"{DETAILS}:{ACTIVITY}.elements_by_rows")
    if not isinstance(counts, Mapping) or not counts:
        return None
    parts = [f"{plural(n, 'element')} with {plural(int(rows), 'row')}" for rows, n in counts.items()]
    return "Rows per element: " + ", ".join(parts) + " (an element measured in both orientations has two)."


def _motif(facts: Facts) -> str | None:
    checked = facts.get(f"{QC}:{QC_MOTIF_CHECKED}")
    matches = facts.get(f"{QC}:motif_matches_reference")
    records = facts.get(f"{DETAILS}:{QC_MOTIF_MISMATCHES}")
    return motif_check(records if isinstance(records, list) else [], checked, matches,
                       facts.get(f"{DETAILS}:motif_mismatch_rows"))


def motif_check(records: Sequence[Any], checked: int | None, matches: int | None = None,
                rows_by_reason: Mapping[str, Any] | None = None) -> str:
    """Whether the motif in each name was found in the reference, in words; never claims an unrun check."""
    names = [_element_name(r) for r in records]
    if not names and not checked:
        # No claim about a check that did not run (V1 reads no genome: its inputs are the motif in N).
        return ("Motif check: not run. No model input of this experiment was compared with the reference "
                "genome (0 rows checked), so nothing is claimed about whether the names' motifs match it.")
    if not names:
        return (f"Motif check: the motif in the name of all {_n(checked)} checked rows matches the reference "
                "genome at the named position.")
    reasons = "; ".join(f"{_n(n)} rows: {MOTIF_REASONS.get(reason, reason)}"
                        for reason, n in (rows_by_reason or {}).items())
    detail = table(["element", "rows", "why", "reference motif", "name's motif"],
                   [(f"`{_element_name(r)}`", _n(_field(r, "rows")),
                     MOTIF_REASONS.get(_field(r, "reason"), _field(r, "reason")), _field(r, "reference_motif"),
                     _field(r, "name_motif")) for r in records])
    counted = (f" {_n(matches)} of {_n(checked)} checked rows match." if matches is not None and checked is not None
               else "")
    by_reason = f" Rows that do not, by reason: {reasons}." if reasons else ""
    return (f"> **Warning — the motif in the oligo name does not match the reference for "
            f"{plural(len(names), 'element')}:** {', '.join(f'`{n}`' for n in names)}. Their model input may not "
            f"contain the assayed site.{counted}{by_reason}\n\n{detail}")


def _field(record: Any, key: str) -> str:
    return _n(record.get(key)) if isinstance(record, Mapping) else UNKNOWN


def _element_name(item: Any) -> str:
    if isinstance(item, Mapping):
        for key in ("element_id", "element", "name", "id"):
            if key in item:
                return str(item[key])
    return str(item)


def _design(facts: Facts) -> str | None:
    records = facts.get(f"{DETAILS}:design.design_records")
    if records is None:
        return None
    unmeasured = facts.get(f"{DETAILS}:design.design_without_counts")
    flipped = facts.get(f"{DETAILS}:design.design_elements_reverse_complemented")
    return (f"The library design has {plural(records, 'sequence') if isinstance(records, int) else _n(records)}; "
            f"{_n(unmeasured)} of them have no counts row (designed, not measured: unused), and the design oligos "
            f"of {_n(flipped)} elements were reverse-complemented to match the reference strand.")


# In the order the section reads: what came in, what was left out, what is evaluated, then the checks.
WORDING: tuple[Wording, ...] = (
    Wording((f"{QC}:rows_in", f"{DETAILS}:{ACTIVITY}.reader", f"{DETAILS}:{ACTIVITY}.files",
             f"{DETAILS}:{ACTIVITY}.insert_length", f"{DETAILS}:{ACTIVITY}.assembly",
             f"{DETAILS}:{ACTIVITY}.elements"), _read),
    Wording((f"{DETAILS}:{ACTIVITY}.method",), _method),
    Wording((f"{QC}:excluded.{DROPOUT}", f"{DETAILS}:{ACTIVITY}.zero_rna_rows",
             *(f"{DETAILS}:{ACTIVITY}.{DROPOUT}.{k}" for k in (
                 "exclude", "min_plasmid", "min_tags", "candidates", "flagged", "candidate_median_tags",
                 "candidate_median_plasmid", "candidates_by_pool.*"))), _dropouts),
    Wording((f"{DETAILS}:{ACTIVITY}.{DROPOUT}.candidates_by_element.*",), _dropout_elements),
    *(Wording((f"{QC}:excluded.{reason}",), _excluded(reason)) for reason in EXCLUSIONS if reason != DROPOUT),
    Wording((), _nothing_excluded),
    Wording((f"{DETAILS}:elements_without_target",), _without_target),
    Wording((f"{QC}:rows_used", f"{QC}:benchmark_rows", f"{QC}:elements", f"{QC}:distinct_inputs"), _kept),
    Wording((f"{DETAILS}:{ACTIVITY}.rows_by_class.*",), _composition("rows_by_class", "element class")),
    Wording((f"{DETAILS}:{ACTIVITY}.rows_by_orientation.*",), _composition("rows_by_orientation", "orientation")),
    Wording((f"{DETAILS}:{ACTIVITY}.elements_by_rows.*",), _elements_by_rows),
    Wording((f"{QC}:pool_offset_log2", f"{DETAILS}:{ACTIVITY}.pool_offset_log2", f"{DETAILS}:{ACTIVITY}.pool_centre",
             f"{DETAILS}:{ACTIVITY}.normalised_within_pool", f"{DETAILS}:{ACTIVITY}.pools.*.*"), _pools),
    Wording((f"{QC}:{QC_MOTIF_CHECKED}", f"{QC}:motif_matches_reference", f"{DETAILS}:{QC_MOTIF_MISMATCHES}",
             f"{DETAILS}:motif_mismatch_rows.*"), _motif),
    Wording((f"{DETAILS}:design.design_records", f"{DETAILS}:design.design_without_counts",
             f"{DETAILS}:design.design_elements_reverse_complemented"), _design),
)


def _paragraphs(said: Sequence[str]) -> list[str]:
    """Consecutive one-line sentences as one bullet list; a table or warning as its own paragraph."""
    blocks: list[str] = []
    bullets: list[str] = []
    for text in said:
        if "\n" in text or text.startswith(">"):
            blocks += ["\n".join(bullets)] if bullets else []
            bullets = []
            blocks.append(text)
        else:
            bullets.append(f"- {text}")
    return blocks + (["\n".join(bullets)] if bullets else [])


def keys_of(qc: Mapping[str, Any], details: Mapping[str, Any] | None) -> list[str]:
    """Every leaf of both files as `<file>:<dotted path>` (a list is one leaf)."""
    return [f"{QC}:{k}" for k in flatten(qc, lists=False)] + [
        f"{DETAILS}:{k}" for k in flatten(details or {}, lists=False)]


def unworded(keys: Sequence[str]) -> list[str]:
    """The keys no entry of :data:`WORDING` covers."""
    patterns = [p for w in WORDING for p in w.keys]
    return [k for k in keys if not any(fnmatch.fnmatchcase(k, p) for p in patterns)]


def qc_section(qc: Mapping[str, Any], qc_details: Mapping[str, Any] | None, *, motif_sites: bool) -> str:
    """## Quality control: one sentence (or a small table) per count, with what it means.

    ``motif_sites``: whether the dataset's names carry motif sites (readers/registry.py Layout); without
    them the motif check does not apply and is not mentioned."""
    if not qc and not qc_details:
        return "## Quality control\n\nqc.json and qc_details.json are empty: prepare recorded nothing."
    facts = Facts(qc, qc_details or {})
    wording = [w for w in WORDING if motif_sites or w.say is not _motif]
    parts = ["## Quality control", *_paragraphs([text for w in wording if (text := w.say(facts))])]
    if not qc_details:
        parts.append("No qc_details.json (pools, dropouts by element, motif mismatches) for this run.")
    leftover = unworded(keys_of(qc, qc_details))
    if leftover:  # written by a prepare newer than this wording: shown, never dropped
        parts.append("Also recorded, not yet described here: " + "; ".join(
            f"`{k}` = {_n(Facts(qc, qc_details or {}).get(k))}" for k in leftover) + ".")
    return "\n\n".join(parts)
