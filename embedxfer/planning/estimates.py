"""Time estimates that learn: each kind's formula, calibrated by what this machine measured.

A kind's `estimate_seconds` formula scales with the work a trial does (steps, examples, sequence length, model
size) but its seconds are a guess. Every completed trial keeps its wall time and the formula's seconds when it
was planned (store `trial_keys.estimate_s`); their ratio is how fast this machine did that work. A new trial's
estimate is its formula seconds times the median ratio of similar measured trials:

1. same kind, condition, device type and checkpoint weights (every checkpoint the measured trial read is named by
   the new config and has the same fingerprint now), of a similar shape (formula seconds within 10x);
2. else the same without the condition;
3. else the formula alone ("rough formula").

Reused trials are never measurements (they did not run). See docs/architecture.md, "Reuse and estimates".
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from embedxfer.planning.keys import Identities

if TYPE_CHECKING:
    from embedxfer.experiments import ExperimentPlan
    from embedxfer.store import Store
    from embedxfer.trials import TrialSpec

#: a measured trial is of a similar shape when the formula puts it within this factor of the new one
SHAPE_FACTOR = 10.0


@dataclass(frozen=True)
class Estimate:
    """Seconds for the trials that will run, and where the numbers came from."""

    #: per trial that will run; None when the kind gives no formula
    seconds: tuple[float | None, ...]
    #: how many of them came from measurements
    learned: int
    #: distinct measured trials behind those
    measured_trials: int

    def total(self, workers: int = 1) -> float | None:
        """Wall seconds with `workers` trials at a time (None when some trial has no estimate)."""
        if any(s is None for s in self.seconds):
            return None
        return sum(s for s in self.seconds if s is not None) / max(1, workers)

    @property
    def source(self) -> str:
        """Which source was used, in words: "from 12 measured trials", "rough formula", or both."""
        if not self.seconds:
            return "nothing to run"
        if any(s is None for s in self.seconds):
            return "no estimate for this kind"
        if not self.learned:
            return "rough formula"
        measured = f"from {self.measured_trials} measured trial{'s' if self.measured_trials != 1 else ''}"
        if self.learned == len(self.seconds):
            return measured
        return f"{self.learned} of {len(self.seconds)} trials {measured}, the rest by the rough formula"


def device_type(requested: str) -> str:
    """cpu or cuda: what a trial asking for `requested` runs on here."""
    if requested == "cpu":
        return "cpu"
    if requested.startswith("cuda"):
        return "cuda"
    from embedxfer.devices import visible_gpus

    return "cuda" if visible_gpus() else "cpu"


def estimate(store: Store | None, plan: ExperimentPlan, specs: Sequence[TrialSpec]) -> Estimate:
    """Estimates for `specs` (the trials of `plan` that will run), learned from `store`'s measured trials."""
    formula = plan.seconds_per_trial
    if formula is None or formula <= 0 or store is None or not specs:
        return Estimate(tuple(formula for _ in specs), 0, 0)
    where = device_type(plan.config.device)
    named = json.dumps(plan.config_dict(), default=str)
    known = Identities()
    measured = [
        row
        for row in store.measured_trials(plan.kind.name)
        if (row["device"] or "cpu").split(":")[0] == where
        and 1 / SHAPE_FACTOR <= formula / row["estimate_s"] <= SHAPE_FACTOR
        and _same_weights(row["deps"], named, known)
    ]
    seconds: list[float] = []
    used: set[str] = set()
    learned = 0
    for spec in specs:
        similar = [row for row in measured if row["condition"] == spec.condition] or measured
        if similar:
            seconds.append(formula * statistics.median(row["seconds"] / row["estimate_s"] for row in similar))
            used.update(row["trial_id"] for row in similar)
            learned += 1
        else:
            seconds.append(formula)
    return Estimate(tuple(seconds), learned, len(used))


def _same_weights(deps: dict[str, Any], named: str, known: Identities) -> bool:
    """Every checkpoint a measured trial read is named by the new config and still has the weights it had."""
    checkpoints = deps.get("checkpoints", {})
    return all(c in named and known.checkpoint(c) == fp for c, fp in checkpoints.items())
