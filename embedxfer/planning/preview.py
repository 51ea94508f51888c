"""The plan preview: what a launch would do, without doing it. `embedxfer plan` prints it and the New experiment
page shows it; `run` prints its summary line first. It lists the trials (conditions x params x seeds), which of
them a completed trial already answers (reused) and which will run, the estimated time of those and where the
estimate came from, and the kind's notes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from embedxfer.planning.estimates import Estimate, estimate
from embedxfer.planning.reuse import reusable_sources

if TYPE_CHECKING:
    from embedxfer.experiments import ExperimentPlan
    from embedxfer.store import Store


@dataclass(frozen=True)
class PlanPreview:
    """A plan, which of its trials are reused and from where, and the estimated time of the rest."""

    plan: ExperimentPlan
    #: per trial, in plan order: the completed trial it reuses, or None when it will run
    sources: tuple[str | None, ...]
    estimate: Estimate
    #: trials run at a time (the workers that can take this plan's trials)
    workers: int = 1
    fresh: bool = False

    @property
    def reused(self) -> int:
        return sum(1 for source in self.sources if source)

    @property
    def to_run(self) -> int:
        return len(self.sources) - self.reused

    @property
    def seconds(self) -> float | None:
        """Estimated wall seconds of the trials that will run."""
        return self.estimate.total(self.workers)

    def summary(self) -> str:
        """One line, e.g. "24 trials: 21 reused, 3 to run, about 40 s (from 12 measured trials)"."""
        from embedxfer.cli_output import fmt_duration

        n = len(self.sources)
        head = f"{n} trial{'s' if n != 1 else ''}: {self.reused} reused, {self.to_run} to run"
        if self.fresh:
            head = f"{n} trial{'s' if n != 1 else ''}: all {n} to run (fresh: nothing reused)"
        if not self.to_run:
            return head + ", nothing to wait for"
        seconds = self.seconds
        when = "time unknown" if seconds is None else f"about {fmt_duration(seconds)}"
        workers = f", {self.workers} at a time" if self.workers > 1 else ""
        return f"{head}, {when} ({self.estimate.source}{workers})"

    def to_json(self) -> dict[str, Any]:
        """The preview as `embedxfer plan --json` prints it."""
        return {
            "kind": self.plan.kind.name,
            "config": self.plan.config_dict(),
            "trials": [
                {"condition": spec.condition, "seed": spec.seed, "params": spec.params, "reused_from": source}
                for spec, source in zip(self.plan.trials, self.sources, strict=True)
            ],
            "n_trials": len(self.sources),
            "reused": self.reused,
            "to_run": self.to_run,
            "fresh": self.fresh,
            "estimate_seconds": self.seconds,
            "estimate_source": self.estimate.source,
            "workers": self.workers,
            "notes": self.plan.notes,
        }


def preview_plan(
    plan: ExperimentPlan, store: Store | None, *, fresh: bool = False, slots: Mapping[str, int] | None = None
) -> PlanPreview:
    """Preview `plan` against `store` (None: nothing stored, nothing to reuse or learn from); `slots` are the
    trials each device runs at once ({"cpu": 1} when not given), as a job manager's `slots()` reports them."""
    sources = [None] * len(plan.trials) if fresh or store is None else reusable_sources(store, plan)
    to_run = [spec for spec, source in zip(plan.trials, sources, strict=True) if not source]
    workers = workers_for(plan.config.device, slots or {"cpu": 1})
    return PlanPreview(plan, tuple(sources), estimate(store, plan, to_run), workers, fresh)


def workers_for(requested: str, slots: Mapping[str, int]) -> int:
    """How many trials asking for device `requested` run at once given `slots` ({device: count})."""
    cuda = sum(n for device, n in slots.items() if device.startswith("cuda"))
    if requested == "cpu":
        return slots.get("cpu", 0) or 1
    if requested.startswith("cuda"):
        return cuda or 1
    return (cuda + slots.get("cpu", 0)) or 1
