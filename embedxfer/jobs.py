"""Background job manager: worker threads take trials from a FIFO queue and run them.

One manager per process (pages wrap it in ``st.cache_resource``; the CLI makes one per run). Which workers
there are, and which of them may take a trial, is decided by `embedxfer.devices` (EMBEDXFER_WORKERS, or one
per CUDA device plus one on CPU). A trial goes to the earliest-queued-first worker that may run it.
`submit` takes an `ExperimentPlan` (a config parsed and expanded once) or a config to plan.

Every outcome of a trial is recorded in the store and never stops the worker:
completed; ``cancelled`` (cooperative: the trial's Event is checked every step); ``diverged`` (NaN/inf
loss, with the step); ``failed`` (user error message, CUDA OOM with a hint, or "TypeName: message" with
the traceback in an event); ``interrupted`` (the manager shut down while it ran or before it started).
Cancelling also works across processes: the store's cancel flag is read with each progress write.
Workers never touch Streamlit; pages poll `progress()` / the store.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from embedxfer.devices import configured_workers, may_run, worker_devices
from embedxfer.errors import EmbedxferError
from embedxfer.experiments import BaseConfig, ExperimentPlan, get_kind, parse_config, plan_experiment
from embedxfer.store import MetricBuffer, Store, trial_id_for
from embedxfer.trials import ACTIVE_STATUSES, TrialCancelled, TrialContext, TrialDiverged, TrialSpec

OOM_HINT = "reduce batch_size or max_length, or run on cpu"


@dataclass
class _Item:
    """A queued trial."""

    experiment_id: str
    trial_id: str
    config: BaseConfig
    spec: TrialSpec
    device: str  # as requested by the config: auto | cpu | cuda | cuda:N
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass
class _Worker:
    name: str
    device: str  # cpu | cuda:N
    idle: bool = True
    current: str | None = None
    thread: threading.Thread | None = None


def _is_oom(exc: BaseException) -> bool:
    torch = sys.modules.get("torch")
    oom_type = getattr(getattr(torch, "cuda", None), "OutOfMemoryError", None) if torch else None
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    return "out of memory" in str(exc).lower()


def _release_memory(device: str) -> None:
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and device.startswith("cuda"):
        try:
            torch.cuda.empty_cache()
        except Exception:  # noqa: BLE001 - freeing memory must never break the worker
            pass


def _clean_metrics(result: Any) -> dict[str, float]:
    if not isinstance(result, Mapping):
        raise TypeError(f"run_trial must return a dict of metric name -> number, got {type(result).__name__}")
    try:
        return {str(k): float(v) for k, v in result.items()}
    except (TypeError, ValueError) as exc:
        raise TypeError(f"run_trial returned a metric that is not a number ({exc})") from None


class JobManager:
    """Runs experiments' trials on background worker threads and records everything in the store."""

    def __init__(
        self,
        store: Store | None = None,
        workers: Mapping[str, int] | None = None,
        *,
        progress_interval: float = 1.0,
        metric_flush_rows: int = 500,
        metric_flush_seconds: float = 2.0,
        check_devices: bool = True,
    ) -> None:
        """`workers`: {device: count}, e.g. {"cpu": 1} or {"cuda:0": 1, "cpu": 1}; default `configured_workers()`
        (EMBEDXFER_WORKERS, else one per GPU + one CPU). `check_devices=False` skips checking that named GPUs
        exist (tests use fake cuda workers)."""
        self.store = store if store is not None else Store()
        self.progress_interval = progress_interval
        self._flush_rows, self._flush_seconds = metric_flush_rows, metric_flush_seconds
        devices = worker_devices(configured_workers() if workers is None else workers, check_devices=check_devices)
        self._cond = threading.Condition()
        self._queue: deque[_Item] = deque()
        self._running: dict[str, _Item] = {}
        self._progress: dict[str, dict[str, Any]] = {}
        self._user_cancelled: set[str] = set()
        self._stopping = False
        self.interrupted_at_start = self.store.mark_interrupted()
        self._workers = [_Worker(f"embedxfer-{d}-{i}", d) for i, d in enumerate(devices)]
        for worker in self._workers:
            worker.thread = threading.Thread(target=self._worker_loop, args=(worker,), name=worker.name, daemon=True)
            worker.thread.start()

    # ---------------------------------------------------------------- submitting
    def submit(self, plan: ExperimentPlan | BaseConfig | dict[str, Any], name: str | None = None) -> str:
        """Store the experiment of `plan` and queue its trials; returns the experiment id. A config (dict or
        dataclass) is planned first (parsed if needed, then expanded: bad input fails here, before anything is
        stored)."""
        self._check_open()
        if not isinstance(plan, ExperimentPlan):
            plan = plan_experiment(plan)
        experiment_id = self.store.create_experiment(plan.kind.name, plan.config_dict(), plan.trials, name)
        queued = [(trial_id_for(experiment_id, i), spec) for i, spec in enumerate(plan.trials)]
        self._enqueue(experiment_id, plan.config, queued)
        return experiment_id

    def resume(self, experiment_id: str) -> int:
        """Queue again the experiment's trials that did not complete (interrupted, cancelled, failed, diverged);
        completed trials and trials queued/running in a live process are left alone. Returns how many."""
        self._check_open()
        config = parse_config(self.store.get_experiment(experiment_id)["config"])
        self.store.mark_interrupted()
        trials = self.store.reset_trials_for_resume(experiment_id)
        self._enqueue(experiment_id, config, [(t["trial_id"], TrialSpec.from_dict(t)) for t in trials])
        return len(trials)

    def _enqueue(self, experiment_id: str, config: BaseConfig, trials: list[tuple[str, TrialSpec]]) -> None:
        """Queue (trial_id, spec) pairs that are stored as `queued`."""
        if not trials:
            return
        requested = config.device
        if not any(may_run(requested, w.device, cuda_idle=False) for w in self._workers):
            have = ", ".join(sorted({w.device for w in self._workers}))
            error = f"No worker runs on {requested} (workers here: {have}); set device to auto or cpu."
            for trial_id, _ in trials:
                self.store.finish_trial(trial_id, "failed", error=error, only_if=("queued",))
            self.store.add_event(experiment_id, error, level="error")
            return
        with self._cond:
            stopping = self._stopping
            if not stopping:
                for trial_id, spec in trials:
                    self._queue.append(_Item(experiment_id, trial_id, config, spec, requested))
                self._cond.notify_all()
        if stopping:  # shut down while submitting: leave the trials resumable, not queued forever
            for trial_id, _ in trials:
                reason = "the job manager shut down before it ran"
                self.store.finish_trial(trial_id, "interrupted", error=reason, only_if=("queued",))
            self._check_open()

    def _check_open(self) -> None:
        if self._stopping:
            raise RuntimeError("this JobManager has been shut down; create a new one")

    # ---------------------------------------------------------------- control and status
    def cancel(self, experiment_id: str | None = None, trial_id: str | None = None) -> int:
        """Cancel an experiment's trials (or one trial): queued ones at once, running ones at their next step
        check. Works for trials run by another process too. Returns how many trials were affected."""
        if (experiment_id is None) == (trial_id is None):
            raise ValueError("give exactly one of experiment_id or trial_id")

        def matches(item: _Item) -> bool:
            return item.trial_id == trial_id if trial_id else item.experiment_id == experiment_id

        with self._cond:
            dropped = [item for item in self._queue if matches(item)]
            for item in dropped:
                self._queue.remove(item)
            for item in self._running.values():
                if matches(item):
                    self._user_cancelled.add(item.trial_id)
                    item.cancel.set()
            self._cond.notify_all()
        affected = set(self.store.request_cancel(experiment_id=experiment_id, trial_id=trial_id))
        return len(affected | {item.trial_id for item in dropped})

    def progress(self, experiment_id: str) -> dict[str, dict[str, Any]]:
        """{trial_id: {"status", "step", "total", "error", "device", "condition", "seed", + the latest live
        report ("loss", metrics, "phase") for trials running here}}."""
        trials = self.store.list_trials(experiment_id)
        with self._cond:
            live = {tid: dict(p) for tid, p in self._progress.items() if tid.startswith(f"{experiment_id}-t")}
        out = {}
        for trial in trials:
            entry = {key: trial[key] for key in ("status", "step", "error", "device", "condition", "seed")}
            entry["total"] = trial["total_steps"]
            if trial["status"] == "running" and trial["trial_id"] in live:
                entry.update(live[trial["trial_id"]])
                entry["status"] = "running"
            out[trial["trial_id"]] = entry
        return out

    def active(self) -> dict[str, Any]:
        """Sidebar summary: running and queued trials (all processes sharing the store), trials finished today,
        and this manager's workers [{name, device, trial_id}]."""
        midnight = datetime.now().replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        counts = self.store.activity(midnight)
        with self._cond:
            workers = [{"name": w.name, "device": w.device, "trial_id": w.current} for w in self._workers]
        return {
            "running": counts["running"],
            "queued": counts["queued"],
            "finished_today": counts["finished"],
            "workers": workers,
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

    def delete(self, experiment_id: str, timeout: float = 30.0) -> None:
        """Cancel the experiment, wait for its running trials to stop, then delete it from the store."""
        self.cancel(experiment_id=experiment_id)
        self.wait(experiment_id, timeout=timeout)
        self.store.delete_experiment(experiment_id)

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop the workers: queued trials and running ones (stopped at their next step) become `interrupted`, so
        `resume` can run them later. Idempotent."""
        with self._cond:
            leftover = list(self._queue) if not self._stopping else []
            self._stopping = True
            self._queue.clear()
            for item in self._running.values():
                item.cancel.set()
            self._cond.notify_all()
        for item in leftover:
            try:
                reason = "the job manager shut down before it ran"
                self.store.finish_trial(item.trial_id, "interrupted", error=reason, only_if=("queued",))
            except EmbedxferError:
                pass  # deleted meanwhile
        if wait:
            for worker in self._workers:
                if worker.thread is not None and worker.thread is not threading.current_thread():
                    worker.thread.join(timeout)

    def close(self, timeout: float | None = 30.0) -> None:
        """Shut down and wait (up to `timeout` s per worker) for running trials to stop."""
        self.shutdown(wait=True, timeout=timeout)

    def __enter__(self) -> JobManager:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---------------------------------------------------------------- workers
    def _take(self, worker: _Worker) -> _Item | None:
        """The earliest queued trial this worker may run (caller holds the lock)."""
        cuda_idle = any(w.idle and w.device.startswith("cuda") for w in self._workers if w is not worker)
        for item in self._queue:
            if may_run(item.device, worker.device, cuda_idle=cuda_idle):
                self._queue.remove(item)
                return item
        return None

    def _worker_loop(self, worker: _Worker) -> None:
        while True:
            with self._cond:
                item = None
                while item is None:
                    if self._stopping:
                        worker.idle = True
                        return
                    item = self._take(worker)
                    if item is None:
                        worker.idle = True
                        self._cond.wait(1.0)
                worker.idle, worker.current = False, item.trial_id
                self._running[item.trial_id] = item
                self._cond.notify_all()  # a cpu worker may now take an `auto` trial this worker left
            try:
                self._run(worker, item)
            except Exception as exc:  # noqa: BLE001 - the worker must survive anything, even a broken store
                traceback.print_exc()
                try:
                    error = f"internal error in the job manager: {type(exc).__name__}: {exc}"
                    self.store.finish_trial(item.trial_id, "failed", error=error, only_if=ACTIVE_STATUSES)
                except Exception:  # noqa: BLE001
                    pass
            finally:
                with self._cond:
                    worker.current = None
                    self._running.pop(item.trial_id, None)
                    self._progress.pop(item.trial_id, None)
                    self._user_cancelled.discard(item.trial_id)
                    self._cond.notify_all()
                _release_memory(worker.device)

    def _run(self, worker: _Worker, item: _Item) -> None:
        store, trial_id = self.store, item.trial_id
        if item.cancel.is_set():  # cancelled between leaving the queue and starting
            with self._cond:
                status = "cancelled" if trial_id in self._user_cancelled else "interrupted"
            store.finish_trial(trial_id, status, error=f"{status} before it started", only_if=("queued",))
            return
        if not store.start_trial(trial_id, worker.device):
            return  # no longer queued: cancelled or taken elsewhere
        buffer = MetricBuffer(store, trial_id, max_rows=self._flush_rows, max_seconds=self._flush_seconds)
        ctx = TrialContext(
            trial_id=trial_id,
            device=worker.device,
            artifact_dir=store.artifact_dir(trial_id),
            cancel=item.cancel,
            report=self._reporter(item),
            log_metrics=buffer.add,
        )
        status, error, metrics, step, details = "completed", None, None, None, None
        try:
            metrics = _clean_metrics(get_kind(item.config.kind).run_trial(item.config, item.spec, ctx))
        except TrialCancelled:
            with self._cond:
                user = trial_id in self._user_cancelled or not self._stopping
            status = "cancelled" if user else "interrupted"
            error = "cancelled by the user" if user else "the job manager shut down while it ran"
        except TrialDiverged as exc:
            status, error, step = "diverged", str(exc), exc.step
        except EmbedxferError as exc:
            status, error = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - any bug in a trial ends that trial only
            status = "failed"
            if _is_oom(exc):
                error = f"Out of memory on {worker.device}: {OOM_HINT}."
                _release_memory(worker.device)
            else:
                error = f"{type(exc).__name__}: {exc}"
            details = traceback.format_exc()
        finally:
            try:
                buffer.flush()
            except EmbedxferError as exc:
                details = f"{details or ''}\nper-step metrics were not saved: {exc}"
        with self._cond:
            latest = dict(self._progress.get(trial_id, {}))
        if step is None:
            step = latest.get("step")
        if latest.get("total") is not None:  # progress writes are throttled: make sure the last total is kept
            store.update_progress(trial_id, _int_or_none(step), _int_or_none(latest["total"]))
        store.finish_trial(trial_id, status, error=error, step=_int_or_none(step), metrics=metrics)
        if status != "completed":
            level = "warning" if status in ("cancelled", "interrupted") else "error"
            message = f"trial {trial_id} {status}: {error}" + (f"\n{details}" if details else "")
            store.add_event(item.experiment_id, message, trial_id=trial_id, level=level)

    def _reporter(self, item: _Item):
        """The trial's `report`: keep the latest progress in memory, persist step/total at most every
        `progress_interval` seconds, and pick up cancel requests made through the store."""
        last_persist = [0.0]

        def report(progress: dict[str, Any]) -> None:
            with self._cond:
                merged = {**self._progress.get(item.trial_id, {}), **progress, "updated_at": time.time()}
                self._progress[item.trial_id] = merged
            now = time.monotonic()
            if now - last_persist[0] < self.progress_interval:
                return
            last_persist[0] = now
            try:
                asked = self.store.update_progress(
                    item.trial_id, _int_or_none(merged.get("step")), _int_or_none(merged.get("total"))
                )
            except EmbedxferError:
                return  # progress is best effort; the trial goes on
            if asked:
                with self._cond:
                    self._user_cancelled.add(item.trial_id)
                item.cancel.set()

        return report


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None
