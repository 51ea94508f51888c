"""What every backend's job manager shares: the store, live progress, waiting, deleting and the status summary.

A backend (threads in `embedxfer.jobs`, Ray in `embedxfer.ray_backend`) subclasses `ManagerBase` and provides
`submit`, `resume`, `cancel`, `shutdown` and `workers()`; pages and the CLI use only this interface, so they
cannot tell the backends apart (docs/architecture.md, "Backends").
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

from embedxfer.errors import EmbedxferError
from embedxfer.experiments import BaseConfig, ExperimentPlan, parse_config, plan_experiment
from embedxfer.planning.reuse import identities, reusable_sources
from embedxfer.store import MetricBuffer, Store, trial_id_for
from embedxfer.trial_outcome import int_or_none
from embedxfer.trials import ACTIVE_STATUSES, TrialSpec

#: how often a manager syncs its quiet running trials with the store (held-back rows and progress, cancels asked
#: by other processes)
SYNC_SECONDS = 1.0


class ManagerBase:
    """Shared state: the store, a condition guarding live progress, the stopping flag."""

    #: what `start_trial` records as the trial's backend
    backend = "thread"

    def __init__(self, store: Store | None, progress_interval: float) -> None:
        self.store = store if store is not None else Store()
        self.progress_interval = progress_interval
        self._cond = threading.Condition()
        self._progress: dict[str, dict[str, Any]] = {}
        #: trial_id -> the (step, total) last written to the store
        self._persisted: dict[str, tuple[int | None, int | None]] = {}
        self._stopping = False
        self.interrupted_at_start = self.store.mark_interrupted()

    # ---------------------------------------------------------------- for subclasses
    def _store_plan(
        self, plan: ExperimentPlan | BaseConfig | dict[str, Any], name: str | None, fresh: bool = False
    ) -> tuple[str, BaseConfig, list[tuple[str, TrialSpec]]]:
        """Plan (bad input fails here, before anything is stored), store the experiment, and fill the trials a
        completed trial in the store already answers (unless `fresh`); (id, config, the trials left to run)."""
        self._check_open()
        if not isinstance(plan, ExperimentPlan):
            plan = plan_experiment(plan)
        self._check_plan(plan)
        sources = [None] * len(plan.trials) if fresh else reusable_sources(self.store, plan)
        experiment_id = self.store.create_experiment(plan.kind.name, plan.config_dict(), plan.trials, name)
        trial_ids = [trial_id_for(experiment_id, i) for i in range(len(plan.trials))]
        formula = [plan.seconds_per_trial] * len(trial_ids)
        self.store.add_trial_keys(zip(trial_ids, identities(plan), formula, strict=True))
        pairs = zip(trial_ids, sources, strict=True)
        reused = {t for t, source in pairs if source and self.store.copy_trial(source, t)}
        if reused:
            self.store.add_event(
                experiment_id,
                f"reused {len(reused)} of {len(trial_ids)} trial(s) from earlier experiments (same trial, same "
                "settings it read, same weights and data); `--fresh` or the form's Fresh box runs them again",
            )
        return (
            experiment_id,
            plan.config,
            [(t, spec) for t, spec in zip(trial_ids, plan.trials, strict=True) if t not in reused],
        )

    def _check_plan(self, plan: ExperimentPlan) -> None:
        """Refuse a plan this backend cannot run, before it is stored (the Ray backend checks what workers need)."""

    def _requeue(self, experiment_id: str) -> tuple[BaseConfig, list[tuple[str, TrialSpec]]]:
        """Reset an experiment's unfinished trials to `queued` for this process; (config, trials)."""
        self._check_open()
        config = parse_config(self.store.get_experiment(experiment_id)["config"])
        self.store.mark_interrupted()
        trials = self.store.reset_trials_for_resume(experiment_id)
        return config, [(t["trial_id"], TrialSpec.from_dict(t)) for t in trials]

    def _note_progress(self, trial_id: str, progress: dict[str, Any], last_persist: list[float]) -> bool:
        """Keep a running trial's newest progress in memory; persist step/total at most every `progress_interval`
        seconds. Returns True when the store says someone (maybe another process) asked to cancel it."""
        with self._cond:
            merged = {**self._progress.get(trial_id, {}), **progress, "updated_at": time.time()}
            self._progress[trial_id] = merged
        now = time.monotonic()
        if now - last_persist[0] < self.progress_interval:
            return False
        last_persist[0] = now
        return self._persist_progress(trial_id, merged)

    def _persist_progress(self, trial_id: str, progress: dict[str, Any]) -> bool:
        """Write a trial's step/total; True when the store says it was asked to cancel."""
        pair = _step_total(progress)
        try:
            cancel = self.store.update_progress(trial_id, *pair)
        except EmbedxferError:
            return False  # progress is best effort; the trial goes on
        with self._cond:
            self._persisted[trial_id] = pair
        return cancel

    def _sync_running(self, buffers: dict[str, MetricBuffer | None]) -> set[str]:
        """For running trials that may have gone quiet (loading, evaluating, waiting), given as {trial_id: its metric
        buffer}: write the rows and progress the batching held back, and return those someone (maybe another
        process) asked to cancel."""
        for buffer in buffers.values():
            try:
                if buffer is not None:
                    buffer.flush_if_due()
            except EmbedxferError:
                pass  # the store is busy for a moment: the rows stay buffered and go out later
        trial_ids = list(buffers)
        with self._cond:
            latest = {t: dict(self._progress[t]) for t in trial_ids if t in self._progress}
            pending = {t: p for t, p in latest.items() if self._persisted.get(t) != _step_total(p)}
        cancelled = {trial_id for trial_id, progress in pending.items() if self._persist_progress(trial_id, progress)}
        try:
            return cancelled | self.store.cancel_requested([t for t in trial_ids if t not in pending])
        except EmbedxferError:
            return cancelled  # the store is busy or gone for a moment: ask again next time

    def _latest(self, trial_id: str) -> dict[str, Any]:
        with self._cond:
            return dict(self._progress.get(trial_id, {}))

    def _check_open(self) -> None:
        if self._stopping:
            raise RuntimeError("this job manager has been shut down; create a new one")

    # ---------------------------------------------------------------- the interface pages and the CLI use
    def workers(self) -> list[dict[str, Any]]:
        """[{name, device, trial_id}] of this manager's workers (busy ones have a trial_id)."""
        raise NotImplementedError

    def slots(self) -> dict[str, int]:
        """{device: trials it can run at once}: what a plan preview divides its estimate by."""
        counts: dict[str, int] = {}
        for worker in self.workers():
            counts[worker["device"]] = counts.get(worker["device"], 0) + 1
        return counts

    def describe(self) -> dict[str, Any]:
        """The backend in a few facts for the sidebar and the CLI: {"backend", ...}."""
        return {"backend": self.backend}

    def progress(self, experiment_id: str) -> dict[str, dict[str, Any]]:
        """{trial_id: {"status", "step", "total", "error", "device", "condition", "seed", + the latest live
        report ("loss", metrics, "phase") for trials running here}}."""
        trials = self.store.list_trials(experiment_id)
        with self._cond:
            live = {tid: dict(p) for tid, p in self._progress.items() if tid.startswith(f"{experiment_id}-t")}
        out = {}
        for trial in trials:
            keys = ("status", "step", "error", "device", "condition", "seed", "backend", "reused_from")
            entry = {key: trial[key] for key in keys}
            entry["total"] = trial["total_steps"]
            if trial["status"] == "running" and trial["trial_id"] in live:
                entry.update(live[trial["trial_id"]])
                entry["status"] = "running"
            out[trial["trial_id"]] = entry
        return out

    def active(self) -> dict[str, Any]:
        """Sidebar summary: running and queued trials (all processes sharing the store), trials finished today,
        this manager's workers [{name, device, trial_id}] and its backend (`describe`)."""
        midnight = datetime.now().replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        counts = self.store.activity(midnight)
        return {
            "running": counts["running"],
            "queued": counts["queued"],
            "finished_today": counts["finished"],
            "workers": self.workers(),
            "backend": self.describe(),
        }

    def wait(self, experiment_id: str, timeout: float | None = None) -> str:
        """Block until no trial of the experiment is queued or running (or `timeout` s pass); returns its status."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.store.get_experiment(experiment_id)["status"]
            if status not in ACTIVE_STATUSES:
                return status
            remaining = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
            if remaining <= 0:
                return status
            with self._cond:
                self._cond.wait(remaining)

    def cancel(self, experiment_id: str | None = None, trial_id: str | None = None) -> int:
        raise NotImplementedError

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        raise NotImplementedError

    def delete(self, experiment_id: str, timeout: float = 30.0) -> None:
        """Cancel the experiment, wait for its running trials to stop, then delete it from the store."""
        self.cancel(experiment_id=experiment_id)
        self.wait(experiment_id, timeout=timeout)
        self.store.delete_experiment(experiment_id)

    def close(self, timeout: float | None = 30.0) -> None:
        """Shut down and wait (up to `timeout` s) for running trials to stop."""
        self.shutdown(wait=True, timeout=timeout)

    def __enter__(self) -> ManagerBase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _step_total(progress: dict[str, Any]) -> tuple[int | None, int | None]:
    return int_or_none(progress.get("step")), int_or_none(progress.get("total"))
