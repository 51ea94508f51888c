"""Trials: what one run of an experiment is, what it may use while running, and every status it can have.

The engine, the job manager, the store, the CLI and the pages all take their trial vocabulary from here
(docs/architecture.md, "Trials and statuses"), so a status list is written down once.

Trial statuses: ``queued`` and ``running`` are unfinished; ``completed``, ``failed``, ``diverged`` and
``cancelled`` are finished; ``interrupted`` means the process running it died (or shut down) and ``resume``
runs it again. An experiment's status is derived from its trials' statuses by `experiment_status`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: Every status a trial can have.
TRIAL_STATUSES = ("queued", "running", "completed", "failed", "diverged", "cancelled", "interrupted")
#: Statuses of a trial that still waits for, or holds, a worker.
ACTIVE_STATUSES = ("queued", "running")
#: Statuses of a trial that ended by itself or by a user's cancel (not by a dying process).
FINISHED_STATUSES = frozenset({"completed", "failed", "diverged", "cancelled"})
#: Statuses `resume` queues again.
RESUMABLE_STATUSES = ("interrupted", "cancelled", "failed", "diverged")
#: Every status an experiment can have (see `experiment_status`), in the order filters list them.
EXPERIMENT_STATUSES = ("running", "queued", "completed", "partial", "failed", "cancelled", "interrupted")


def experiment_status(counts: dict[str, int]) -> str:
    """An experiment's status from {trial status: count}.

    ``running`` if some trial runs; else ``queued`` if some is queued; else ``interrupted`` if some was
    interrupted; else ``cancelled`` if the user cancelled some; ``completed`` when every trial completed (or
    there are none); ``failed`` when none completed; ``partial`` when some completed and the others failed or
    diverged.
    """
    has = {status for status, n in counts.items() if n}
    for status in ("running", "queued", "interrupted", "cancelled"):
        if status in has:
            return status
    if not has or has == {"completed"}:
        return "completed"
    return "partial" if "completed" in has else "failed"


@dataclass
class TrialSpec:
    """One trial of an experiment: one condition, one seed, and kind-specific parameters."""

    condition: str
    seed: int
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialSpec:
        return cls(condition=data["condition"], seed=int(data["seed"]), params=dict(data.get("params") or {}))


def _ignore_progress(progress: dict[str, Any]) -> None:
    """Default progress sink: drop it."""


def _ignore_metrics(step: int, metrics: dict[str, float]) -> None:
    """Default metric sink: drop them."""


@dataclass
class TrialContext:
    """What a running trial may use: where to write, how to report, when to stop."""

    trial_id: str
    device: str = "cpu"
    artifact_dir: Path | None = None
    cancel: threading.Event = field(default_factory=threading.Event)
    #: progress for live display: {"step", "total", "loss", "<metric>", "phase"}; not persisted per call
    report: Callable[[dict[str, Any]], None] = _ignore_progress
    #: per-step metrics to persist; the store batches the writes
    log_metrics: Callable[[int, dict[str, float]], None] = _ignore_metrics

    def device_for(self, requested: str) -> str:
        """The device a trial runs on: its worker's for a config's ``auto``, else the one the config names (the job
        manager only hands such a trial to a worker of that device)."""
        return self.device if requested == "auto" else requested

    def check_cancel(self) -> None:
        """Raise TrialCancelled if someone asked this trial to stop."""
        if self.cancel.is_set():
            raise TrialCancelled()


class TrialCancelled(Exception):
    """Raised inside a trial when its cancel token is set; the trial ends `cancelled`."""


class TrialDiverged(Exception):
    """Raised when the loss becomes NaN or infinite; the trial ends `diverged` at `step`."""

    def __init__(self, step: int, loss: float) -> None:
        super().__init__(f"loss became {loss} at step {step}")
        self.step = step
        self.loss = loss
