"""Reading a calibration.json: which worst-case rates miss their tolerance, and under which null.

Kept apart from stats/calibration (the simulation) so that the report stage, which only reads the
file, does not import scipy for it (start-up time of every run; tests/test_architecture.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mprabench.schema import (
    CALIBRATION_ALPHA,
    CALIBRATION_CI_LEVEL,
    CALIBRATION_FAMILYWISE,
    CALIBRATION_FLAGS,
    CALIBRATION_INTERVALS,
    CALIBRATION_TESTS,
    CALIBRATION_WORST_NULLS,
)


@dataclass(frozen=True)
class CalibrationMiss:
    """One worst-case rate outside its tolerance: ``kind`` is "type I", "coverage" or "flag rate"."""

    key: str
    kind: str
    rate: float
    mcse: float | None
    nominal: float
    null: str | None


def calibration_misses(result: dict[str, Any], type_i_tolerance: float, coverage_tolerance: float) -> list[CalibrationMiss]:
    """Every worst-case type-I rate, coverage and flag rate of a calibration.json dict outside its tolerance
    (evaluate.calibration.type_i_tolerance and coverage_tolerance: the report's verdict; a flag rate must
    stay at most alpha + the type-I tolerance)."""
    misses = []
    alpha, level = result[CALIBRATION_ALPHA], result[CALIBRATION_CI_LEVEL]
    nulls = worst_nulls(result)
    for key, test in (result.get(CALIBRATION_TESTS) or {}).items():
        if abs(test["type_I"] - alpha) > type_i_tolerance:
            misses.append(CalibrationMiss(key, "type I", test["type_I"], test.get("mcse"), alpha,
                                          nulls.get(f"{CALIBRATION_TESTS}.{key}")))
    for key, interval in (result.get(CALIBRATION_INTERVALS) or {}).items():
        if abs(interval["coverage"] - level) > coverage_tolerance:
            misses.append(CalibrationMiss(key, "coverage", interval["coverage"], interval.get("mcse"), level,
                                          nulls.get(f"{CALIBRATION_INTERVALS}.{key}")))
    for key, flag in (result.get(CALIBRATION_FLAGS) or {}).items():
        if flag[CALIBRATION_FAMILYWISE] > alpha + type_i_tolerance:
            misses.append(CalibrationMiss(key, "flag rate", flag[CALIBRATION_FAMILYWISE], flag.get("mcse"), alpha,
                                          nulls.get(f"{CALIBRATION_FLAGS}.{key}")))
    return misses


def worst_nulls(result: dict[str, Any]) -> dict[str, str]:
    """calibration.json's `worst_nulls` string as {"tests.element_p": "leverage_smallest", ...}."""
    text = result.get(CALIBRATION_WORST_NULLS) or ""
    return dict(item.split("=", 1) for item in text.split("; ") if "=" in item)
