"""What every experiment kind shares: trial specs, the context a trial runs in, the kind registry.

An experiment is a `kind` plus a config dataclass. `ExperimentKind.expand(config)` turns the
config into trials (condition x seed x ...); the job manager runs each trial through
`ExperimentKind.run_trial(config, spec, ctx)`, which returns the trial's final metrics.
Adding a kind = one module that builds an `ExperimentKind` and one `register_kind` line.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from embedxfer.errors import ConfigError

#: Every status a trial can have. `queued` and `running` are unfinished; `interrupted` means the
#: process running it died, and `resume` runs it again.
TRIAL_STATUSES = ("queued", "running", "completed", "failed", "diverged", "cancelled", "interrupted")
FINISHED_STATUSES = frozenset({"completed", "failed", "diverged", "cancelled"})


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


@dataclass(frozen=True)
class ExperimentKind:
    """A registered experiment family."""

    name: str
    config_cls: type
    expand: Callable[[Any], list[TrialSpec]]
    run_trial: Callable[[Any, TrialSpec, TrialContext], dict[str, float]]
    description: str
    #: the metric shown first in summaries and plots
    primary_metric: str = "test_accuracy"
    #: trial params that, with the condition, define a summary group (e.g. ("train_size",))
    group_params: tuple[str, ...] = ()
    #: rough seconds per trial on CPU for the pre-launch estimate
    estimate_seconds: Callable[[Any], float] | None = None


_KIND_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_REGISTRY: dict[str, ExperimentKind] = {}
_REGISTRY_LOCK = threading.Lock()


def register_kind(kind: ExperimentKind) -> ExperimentKind:
    """Add a kind to the registry; names are lowercase snake_case and unique."""
    if not _KIND_NAME.match(kind.name):
        raise ValueError(f"experiment kind name {kind.name!r} must be lowercase snake_case")
    with _REGISTRY_LOCK:
        existing = _REGISTRY.get(kind.name)
        if existing is not None and existing is not kind:
            raise ValueError(f"experiment kind {kind.name!r} is already registered")
        _REGISTRY[kind.name] = kind
    return kind


def get_kind(name: str) -> ExperimentKind:
    """The registered kind called `name`; ConfigError lists the known kinds otherwise."""
    _load_builtin_kinds()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise ConfigError(f"Unknown experiment kind {name!r}; known kinds: {known}.") from None


def list_kinds() -> list[ExperimentKind]:
    """All registered kinds, sorted by name."""
    _load_builtin_kinds()
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def _load_builtin_kinds() -> None:
    # Importing the package registers the built-in kinds (each module calls register_kind).
    import embedxfer.experiments  # noqa: F401
