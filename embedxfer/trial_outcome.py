"""Running one trial and recording how it ended: one copy for both backends (docs/architecture.md, "Backends").

`execute_trial` runs a kind's `run_trial` and turns whatever happens into a `TrialOutcome`; it never raises. The
thread backend calls it on a worker thread; the Ray backend calls it inside a Ray task on any node, and ships
the outcome back as a plain dict. `record_outcome` writes an outcome to the store, always from the process that
owns the store (the dashboard or the CLI), so both backends leave the same rows behind.
"""

from __future__ import annotations

import gc
import sys
import traceback
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from embedxfer.errors import EmbedxferError
from embedxfer.experiments import BaseConfig, get_kind
from embedxfer.planning.keys import dependencies
from embedxfer.planning.recorder import recording, watched
from embedxfer.trials import TrialCancelled, TrialContext, TrialDiverged, TrialSpec

if TYPE_CHECKING:
    from embedxfer.store import Store

OOM_HINT = "reduce batch_size or max_length, or run on cpu"


@dataclass
class TrialOutcome:
    """How a trial ended. ``cancelled`` here only says the trial stopped at its cancel token; the caller knows
    whether a user asked (``cancelled``) or a shutdown did (``interrupted``)."""

    status: str
    error: str | None = None
    metrics: dict[str, float] | None = None
    step: int | None = None
    details: str | None = None  # a traceback or a note for the experiment's events
    #: what a completed trial read and the values it saw (planning/keys.py `dependencies`); None: not reusable
    deps: dict[str, Any] | None = None
    #: it failed by running out of memory (the thread backend runs a GPU trial that did so beside others again alone)
    oom: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrialOutcome:
        return cls(**{key: data.get(key) for key in ("status", "error", "metrics", "step", "details", "deps", "oom")})


def is_oom(exc: BaseException) -> bool:
    torch = sys.modules.get("torch")
    oom_type = getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None) if torch else None
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return "out of memory" in str(exc).lower()


def release_memory(device: str) -> None:
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and device.startswith("cuda"):
        try:
            torch.cuda.empty_cache()
        except Exception:  # noqa: BLE001 - freeing memory must never break the worker
            pass


def clean_metrics(result: Any) -> dict[str, float]:
    if not isinstance(result, Mapping):
        raise TypeError(f"run_trial must return a dict of metric name -> number, got {type(result).__name__}")
    try:
        return {str(k): float(v) for k, v in result.items()}
    except (TypeError, ValueError) as exc:
        raise TypeError(f"run_trial returned a metric that is not a number ({exc})") from None


def execute_trial(config: BaseConfig, spec: TrialSpec, ctx: TrialContext) -> TrialOutcome:
    """Run one trial to its end, whatever happens: completed, cancelled, diverged or failed (user error, OOM with
    a hint, or "TypeName: message" with the traceback in `details`)."""
    try:
        with recording() as reads:  # what the trial reads is what a later run must match to reuse it
            metrics = clean_metrics(get_kind(config.kind).run_trial(watched(config), spec, ctx))
        return TrialOutcome("completed", metrics=metrics, deps=dependencies(config, reads))
    except TrialCancelled:
        return TrialOutcome("cancelled")
    except TrialDiverged as exc:
        return TrialOutcome("diverged", error=str(exc), step=exc.step)
    except EmbedxferError as exc:
        return TrialOutcome("failed", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - any bug in a trial ends that trial only
        if is_oom(exc):
            release_memory(ctx.device)
            return TrialOutcome("failed", error=f"Out of memory on {ctx.device}: {OOM_HINT}.", oom=True)
        return TrialOutcome("failed", error=f"{type(exc).__name__}: {exc}", details=traceback.format_exc())


def record_outcome(
    store: Store, experiment_id: str, trial_id: str, outcome: TrialOutcome, latest: Mapping[str, Any]
) -> bool:
    """Write a running trial's end to the store: its last step/total (`latest`: the newest live progress, whose
    writes are throttled), status, error and final metrics, and an event when it did not complete. Returns
    False when the trial was no longer running (cancelled before it started, say), leaving it as it was."""
    step = outcome.step if outcome.step is not None else latest.get("step")
    if latest.get("total") is not None:
        store.update_progress(trial_id, int_or_none(step), int_or_none(latest["total"]))
    changed = store.finish_trial(
        trial_id,
        outcome.status,
        error=outcome.error,
        step=int_or_none(step),
        metrics=outcome.metrics,
        only_if=("running",),
        deps=outcome.deps if outcome.status == "completed" else None,
    )
    if changed and outcome.status != "completed":
        level = "warning" if outcome.status in ("cancelled", "interrupted") else "error"
        message = f"trial {trial_id} {outcome.status}: {outcome.error}"
        store.add_event(
            experiment_id, message + (f"\n{outcome.details}" if outcome.details else ""), trial_id=trial_id, level=level
        )
    return changed


def int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None
