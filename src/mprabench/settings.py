"""Typed settings: how a schema field declares its allowed values, and how a section is checked.

Every value lives in conf/ only: a schema field has no default (MISSING) and declares its type
and, for numbers, its allowed range (`setting(ge=..., lt=...)`). `typed_section` merges plain
values into a schema and reports every problem with the key, the value and the range. It knows
no section in particular: config.py types the stage sections with it, predictors/resolve.py
the `predictor` section with the schema its predictor class declares.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import MISSING, OmegaConf
from omegaconf.errors import ConfigKeyError, MissingMandatoryValue, OmegaConfBaseException

from mprabench.errors import ConfigError

T = TypeVar("T")

FIX_HINT = "Change the value in conf/ or on the command line (`dvc exp run -S key=value`)."


@dataclass(frozen=True)
class Range:
    """The values a numeric setting may take; `at_most_key` names another setting it may not exceed."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    even: bool = False
    at_most_key: str | None = None

    def describe(self) -> str:
        bounds = [f"{op} {bound:g}" for op, bound in ((">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt))
                  if bound is not None]
        if self.at_most_key:
            bounds.append(f"<= {self.at_most_key}")
        if self.even:
            bounds.append("even")
        return " and ".join(bounds)

    def admits(self, value: float, limit: float | None = None) -> bool:
        return not (
            (self.ge is not None and value < self.ge)
            or (self.gt is not None and value <= self.gt)
            or (self.le is not None and value > self.le)
            or (self.lt is not None and value >= self.lt)
            or (self.even and value % 2 != 0)
            or (limit is not None and value > limit)
        )


def setting(**bounds: Any) -> Any:
    """A field with no default (its value lives in conf/) and the range it must lie in."""
    return field(default=MISSING, metadata={"range": Range(**bounds)})


def items(min_items: int) -> Any:
    """A list field with no default that must hold at least `min_items` entries when set."""
    return field(default=MISSING, metadata={"min_items": min_items})


def typed_section(schema: type[T], values: Any, source: Path | str, key: str = "", context: Any = None) -> T:
    """`values` merged into `schema` and range-checked; any problem is a ConfigError naming `key`.

    `context` is the object `at_most_key` settings are looked up in (the whole params), if any.
    """
    prefix = f"{key}." if key else ""
    try:
        typed = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), values))
    except OmegaConfBaseException as error:
        raise ConfigError(describe_error(error, source, prefix)) from None
    raise_problems(range_problems(typed, context, prefix), source)
    return typed  # type: ignore[return-value]


def raise_problems(problems: Iterator[str] | list[str], source: Path | str) -> None:
    """One ConfigError listing every problem found, or nothing."""
    found = list(problems)
    if found:
        raise ConfigError(f"{source}: " + "; ".join(found) + f". {FIX_HINT}")


def range_problems(node: Any, context: Any, prefix: str = "") -> Iterator[str]:
    """Every field whose value lies outside the range its schema declares, as `key = value (allowed)`."""
    for spec in fields(node):
        key, value = f"{prefix}{spec.name}", getattr(node, spec.name)
        if is_dataclass(value):
            yield from range_problems(value, context, f"{key}.")
        elif isinstance(value, list):
            if len(value) < spec.metadata.get("min_items", 0):
                yield f"`{key}` = {value} must list at least {spec.metadata['min_items']} entry"
            for index, item in enumerate(value):
                if is_dataclass(item):
                    yield from range_problems(item, context, f"{key}[{index}].")
        elif "range" in spec.metadata and isinstance(value, int | float) and not isinstance(value, bool):
            allowed: Range = spec.metadata["range"]
            limit = lookup(context, allowed.at_most_key) if allowed.at_most_key and context is not None else None
            if not allowed.admits(value, limit):
                shown = f" (= {limit})" if limit is not None else ""
                yield f"`{key}` = {value} is out of range: allowed {allowed.describe()}{shown}"


def lookup(node: Any, key: str) -> Any:
    """The value at a dotted key of a typed object (or of plain mappings within it)."""
    for part in key.split("."):
        node = node[part] if isinstance(node, Mapping) else getattr(node, part)
    return node


def describe_error(error: OmegaConfBaseException, source: Path | str, prefix: str = "") -> str:
    key = prefix + (getattr(error, "full_key", "") or "")
    message = str(error).splitlines()[0]
    if isinstance(error, MissingMandatoryValue):
        return (
            f"{source}: `{key}` must be set (it is ??? in the config). "
            f"Set it in conf/ or on the command line, e.g. `dvc exp run -S {key}=...`."
        )
    if isinstance(error, ConfigKeyError):
        schema = getattr(error, "object_type", None)
        known = f"; the settings there are {[f.name for f in fields(schema)]}" if is_dataclass(schema) else ""
        return f"{source}: `{key}` is not a setting (a typo?){known}. Remove or rename it."
    return f"{source}: invalid value at `{key}`: {message}. Fix it in conf/ or with `dvc exp run -S {key}=...`."


def as_plain(value: Any) -> Any:
    """Typed settings as plain data (dicts in field order, enum values, lists), for tables and MLflow params."""
    if is_dataclass(value):
        return {spec.name: as_plain(getattr(value, spec.name)) for spec in fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list):
        return [as_plain(item) for item in value]
    return value
