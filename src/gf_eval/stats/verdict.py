"""Verdicts on a target reduction from an estimated relative change and its 95% interval.

All quantities are relative changes as fractions: -0.25 is a 25% reduction, 0 is no change.
The target is a reduction, so it is negative (e.g. -0.25). With the estimate and its interval
(ci_low, ci_high), the verdict is the first of these rules that applies:

1. "no evidence of reduction" -- the interval includes no change: ci_high >= 0.
2. "met" -- the whole interval lies at or beyond the target: ci_high <= target.
3. "consistent with target" -- the estimate reaches the target (estimate <= target) but the
   interval does not exclude smaller reductions (ci_high > target).
4. "reduction below target" -- the interval excludes no change (ci_high < 0) but the estimate
   falls short of the target (estimate > target).

Boundaries: an upper limit of exactly 0 counts as including no change; an upper limit exactly
at the target counts as met; an estimate exactly at the target counts as reaching it.
"""

from __future__ import annotations

import math
import numbers

__all__ = [
    "NO_EVIDENCE",
    "MET",
    "CONSISTENT",
    "BELOW_TARGET",
    "VERDICTS",
    "verdict",
]

NO_EVIDENCE = "no evidence of reduction"
MET = "met"
CONSISTENT = "consistent with target"
BELOW_TARGET = "reduction below target"
#: The verdicts in the order their rules are evaluated.
VERDICTS = (NO_EVIDENCE, MET, CONSISTENT, BELOW_TARGET)


def _finite(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def verdict(target, estimate, ci_low, ci_high) -> str:
    """The verdict on a target reduction (see the module docstring for the rule).

    `target` is a negative fraction, at least -1 (e.g. -0.25 for a 25% reduction);
    `estimate`, `ci_low` and `ci_high` are the estimated relative change and its interval.
    """
    target = _finite(target, "target")
    estimate = _finite(estimate, "estimate")
    ci_low = _finite(ci_low, "ci_low")
    ci_high = _finite(ci_high, "ci_high")
    if target >= 0:
        raise ValueError(f"target must be a reduction, i.e. negative (e.g. -0.25), got {target:g}")
    if target < -1:
        # a reduction of more than 100% is impossible; most likely a percentage was passed
        raise ValueError(f"target must be a fraction between -1 and 0 (e.g. -0.25), got {target:g}")
    if not ci_low <= estimate <= ci_high:
        raise ValueError(
            "need ci_low <= estimate <= ci_high, got"
            f" ci_low={ci_low:g}, estimate={estimate:g}, ci_high={ci_high:g}"
        )

    if ci_high >= 0:
        return NO_EVIDENCE
    if ci_high <= target:
        return MET
    if estimate <= target:
        return CONSISTENT
    return BELOW_TARGET
