"""Background job manager: worker threads take trials from a FIFO queue and run them.

One manager per process (pages wrap it in ``st.cache_resource``; the CLI makes one per run). Which workers
there are, and which of them may take a trial, is decided by `embedxfer.devices` (EMBEDXFER_WORKERS, or
EMBEDXFER_GPU_PACK per CUDA device plus one on CPU). A trial goes to the earliest-queued-first worker that may run
it; a GPU worker starts it only when `embedxfer.gpu_packing` says its device has room (README, "GPU packing").
`submit` takes an `ExperimentPlan` (a config parsed and expanded once) or a config to plan.

Every outcome of a trial is recorded in the store and never stops the worker:
completed; ``cancelled`` (cooperative: the trial's Event is checked every step); ``diverged`` (NaN/inf
loss, with the step); ``failed`` (user error message, CUDA OOM with a hint, or "TypeName: message" with
the traceback in an event; a CUDA OOM beside other trials on the GPU is queued again to run alone instead);
``interrupted`` (the manager shut down while it ran or before it started).
Cancelling also works across processes: the store's cancel flag is read with each progress write.
Workers never touch Streamlit; pages poll `progress()` / the store.
"""

from __future__ import annotations

import threading
import traceback
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from embedxfer import gpu_packing
from embedxfer.devices import configured_workers, may_run, worker_devices
from embedxfer.errors import EmbedxferError
from embedxfer.experiments import BaseConfig, ExperimentPlan
from embedxfer.job_base import SYNC_SECONDS, ManagerBase
from embedxfer.store import MetricBuffer, Store
from embedxfer.trial_outcome import execute_trial, record_outcome, release_memory
from embedxfer.trials import ACTIVE_STATUSES, TrialContext, TrialSpec


@dataclass
class _Item:
    """A queued trial."""

    experiment_id: str
    trial_id: str
    config: BaseConfig
    spec: TrialSpec
    device: str  # as requested by the config: auto | cpu | cuda | cuda:N
    cancel: threading.Event = field(default_factory=threading.Event)
    #: its per-step metrics while it runs (the watcher flushes rows a quiet trial would hold back)
    buffer: MetricBuffer | None = None
    #: estimated peak GPU memory in bytes (`gpu_packing.trial_bytes`; 0 when GPUs are not packed)
    estimate: int = 0
    #: the device it runs on now; None while queued
    ran_on: str | None = None
    #: another trial ran on its GPU at some moment of this run
    shared: bool = False
    #: it ran out of memory beside other trials: it runs again with its GPU to itself
    alone: bool = False


@dataclass
class _Worker:
    name: str
    device: str  # cpu | cuda:N
    idle: bool = True
    current: str | None = None
    thread: threading.Thread | None = None


class JobManager(ManagerBase):
    """Runs experiments' trials on background worker threads and records everything in the store."""

    backend = "thread"

    def __init__(
        self,
        store: Store | None = None,
        workers: Mapping[str, int] | None = None,
        *,
        progress_interval: float = 1.0,
        sync_seconds: float = SYNC_SECONDS,
        metric_flush_rows: int = 500,
        metric_flush_seconds: float = 2.0,
        check_devices: bool = True,
        gpu_pack: int | None = None,
        free_memory: Callable[[str], int | None] | None = None,
    ) -> None:
        """`workers`: {device: count}, e.g. {"cpu": 1} or {"cuda:0": 1, "cpu": 1}; default `configured_workers()`
        (EMBEDXFER_WORKERS, else `gpu_pack` per GPU + one CPU). `check_devices=False` skips checking that named
        GPUs exist (tests use fake cuda workers). The default workers pack GPUs (`embedxfer.gpu_packing`: up to
        `gpu_pack` trials per GPU while their estimates fit its budget, from `free_memory(device)` read once here,
        default `gpu_packing.free_bytes`); explicit counts run as given, packed only when `gpu_pack` is given too.
        Every `sync_seconds` running trials are synced with the store: metric rows and progress that the batching
        held back are written, and a cancel asked by another process (`embedxfer cancel`, another dashboard) is
        picked up. A trial that is loading, evaluating or waiting reports nothing, so its own reports alone would
        leave a stale step and chart in the store and miss the cancel."""
        chosen = configured_workers(gpu_pack=gpu_pack) if workers is None else workers
        devices = worker_devices(chosen, check_devices=check_devices)
        #: the most trials one GPU runs at once; None: no packing (the worker counts alone decide)
        self._pack = gpu_packing.check_cap(gpu_pack) if gpu_pack is not None else getattr(chosen, "gpu_pack", None)
        read_free = free_memory or gpu_packing.free_bytes
        gpus = [d for d in dict.fromkeys(devices) if d.startswith("cuda")] if self._pack else []
        #: per packed GPU, the bytes its trials' estimates may add up to (None: unknown, the cap alone limits)
        self._budgets = {d: gpu_packing.budget(read_free(d)) for d in gpus}
        super().__init__(store, progress_interval)
        self._flush_rows, self._flush_seconds = metric_flush_rows, metric_flush_seconds
        self._queue: deque[_Item] = deque()
        self._running: dict[str, _Item] = {}
        self._user_cancelled: set[str] = set()
        self._workers = [_Worker(f"embedxfer-{d}-{i}", d) for i, d in enumerate(devices)]
        for worker in self._workers:
            worker.thread = threading.Thread(target=self._worker_loop, args=(worker,), name=worker.name, daemon=True)
            worker.thread.start()
        self._sync_seconds = sync_seconds
        self._watch_stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch_running, name="embedxfer-watch-running", daemon=True)
        self._watcher.start()

    # ---------------------------------------------------------------- submitting
    def submit(
        self, plan: ExperimentPlan | BaseConfig | dict[str, Any], name: str | None = None, *, fresh: bool = False
    ) -> str:
        """Store the experiment of `plan` and queue its trials; returns the experiment id. A config (dict or
        dataclass) is planned first (parsed if needed, then expanded: bad input fails here, before anything is
        stored). Trials a completed trial already answers are filled from it, not queued, unless `fresh`."""
        experiment_id, config, queued = self._store_plan(plan, name, fresh)
        self._enqueue(experiment_id, config, queued)
        return experiment_id

    def resume(self, experiment_id: str) -> int:
        """Queue again the experiment's trials that did not complete (interrupted, cancelled, failed, diverged);
        completed trials and trials queued/running in a live process are left alone. Returns how many."""
        config, trials = self._requeue(experiment_id)
        self._enqueue(experiment_id, config, trials)
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
        packed = bool(self._budgets) and requested != "cpu"  # estimates read files: outside the workers' lock
        items = [_Item(experiment_id, trial_id, config, spec, requested) for trial_id, spec in trials]
        for item in items if packed else []:
            item.estimate = gpu_packing.trial_bytes(config, item.spec)
        with self._cond:
            stopping = self._stopping
            if not stopping:
                self._queue.extend(items)
                self._cond.notify_all()
        if stopping:  # shut down while submitting: leave the trials resumable, not queued forever
            for trial_id, _ in trials:
                reason = "the job manager shut down before it ran"
                self.store.finish_trial(trial_id, "interrupted", error=reason, only_if=("queued",))
            self._check_open()

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

    def workers(self) -> list[dict[str, Any]]:
        with self._cond:
            return [{"name": w.name, "device": w.device, "trial_id": w.current} for w in self._workers]

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop the workers: queued trials and running ones (stopped at their next step) become `interrupted`, so
        `resume` can run them later. Idempotent."""
        self._watch_stop.set()
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

    def _watch_running(self) -> None:
        """Every `sync_seconds`: write the metric rows and progress a quiet trial holds back, and stop running
        trials that were cancelled through the store (see __init__)."""
        while not self._watch_stop.wait(self._sync_seconds):
            with self._cond:
                running = {trial_id: item.buffer for trial_id, item in self._running.items()}
            requested = self._sync_running(running)
            with self._cond:
                for trial_id in requested:
                    item = self._running.get(trial_id)
                    if item is not None:
                        self._user_cancelled.add(trial_id)
                        item.cancel.set()

    # ---------------------------------------------------------------- workers
    def _take(self, worker: _Worker) -> _Item | None:
        """The trial this worker starts now, taken off the queue (caller holds the lock). A GPU worker looks only at
        the earliest queued trial its device may run, and starts it if the device admits it: a trial that does not
        fit yet waits for memory to free up rather than being overtaken for ever. The CPU worker takes the earliest
        trial it may run; an `auto` one only while no idle GPU worker's device would start a trial."""
        if worker.device.startswith("cuda"):
            item = self._head(worker.device)
            if item is None or not self._admits(worker.device, item):
                return None
        else:
            idle_gpus = {w.device for w in self._workers if w.idle and w.device.startswith("cuda")}
            cuda_idle = any(self._device_open(d) for d in idle_gpus)
            item = next((i for i in self._queue if may_run(i.device, worker.device, cuda_idle=cuda_idle)), None)
            if item is None:
                return None
        self._queue.remove(item)
        return item

    def _head(self, device: str) -> _Item | None:
        """The earliest queued trial a worker on `device` may run (caller holds the lock)."""
        return next((i for i in self._queue if may_run(i.device, device, cuda_idle=False)), None)

    def _on_device(self, device: str) -> list[_Item]:
        return [i for i in self._running.values() if i.ran_on == device]

    def _admits(self, device: str, item: _Item) -> bool:
        """Whether `device` may start `item` beside what runs there now (`gpu_packing.admits`)."""
        running = self._on_device(device)
        return gpu_packing.admits(
            [i.estimate for i in running],
            item.estimate,
            budget=self._budgets.get(device),
            cap=self._pack,
            alone=item.alone,
            held=any(i.alone for i in running),
        )

    def _device_open(self, device: str) -> bool:
        """Whether `device` would start its earliest queued trial now."""
        head = self._head(device)
        return head is None or self._admits(device, head)

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
                neighbours = self._on_device(worker.device) if worker.device.startswith("cuda") else []
                for other in neighbours:
                    other.shared = True
                item.ran_on, item.shared = worker.device, bool(neighbours)
                self._running[item.trial_id] = item
                self._cond.notify_all()  # a cpu worker may now take an `auto` trial this worker left
            again = False
            try:
                again = self._run(worker, item)
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
                    self._persisted.pop(item.trial_id, None)
                    self._user_cancelled.discard(item.trial_id)
                    self._cond.notify_all()
                release_memory(worker.device)  # before a rerun alone starts: the failed run's memory goes first
                if again:
                    self._queue_alone(item, worker.device)

    def _queue_alone(self, item: _Item, device: str) -> None:
        """Queue a trial that ran out of memory beside others to run first on `device`, with it to itself."""
        item.device, item.alone, item.shared, item.ran_on, item.buffer = device, True, False, None, None
        with self._cond:
            stopping = self._stopping
            if not stopping:
                self._queue.appendleft(item)
                self._cond.notify_all()
        if stopping:
            reason = "the job manager shut down before it ran"
            self.store.finish_trial(item.trial_id, "interrupted", error=reason, only_if=("queued",))

    def _requeued_alone(self, worker: _Worker, item: _Item, oom: bool) -> bool:
        """A trial that ran out of GPU memory while other trials shared its device is not failed: it is queued
        again (store and an event now, the queue once its worker has freed memory) to run alone there. Alone,
        running out of memory fails it as before."""
        if not (oom and item.shared and not item.alone and worker.device.startswith("cuda")) or item.cancel.is_set():
            return False
        if not self.store.requeue_trial(item.trial_id):
            return False
        message = (
            f"trial {item.trial_id} ran out of memory on {worker.device} while other trials shared it; "
            "queued again to run alone there"
        )
        self.store.add_event(item.experiment_id, message, trial_id=item.trial_id, level="warning")
        return True

    def _run(self, worker: _Worker, item: _Item) -> bool:
        """Run one trial and record its end; True when it must run again alone (`_requeued_alone`)."""
        store, trial_id = self.store, item.trial_id
        if item.cancel.is_set():  # cancelled between leaving the queue and starting
            with self._cond:
                status = "cancelled" if trial_id in self._user_cancelled else "interrupted"
            store.finish_trial(trial_id, status, error=f"{status} before it started", only_if=("queued",))
            return False
        if not store.start_trial(trial_id, worker.device, self.backend):
            return False  # no longer queued: cancelled or taken elsewhere
        buffer = MetricBuffer(store, trial_id, max_rows=self._flush_rows, max_seconds=self._flush_seconds)
        item.buffer = buffer
        ctx = TrialContext(
            trial_id=trial_id,
            device=worker.device,
            artifact_dir=store.artifact_dir(trial_id),
            cancel=item.cancel,
            report=self._reporter(item),
            log_metrics=buffer.add,
        )
        outcome = execute_trial(item.config, item.spec, ctx)
        try:
            buffer.flush()
        except EmbedxferError as exc:
            outcome.details = f"{outcome.details or ''}\nper-step metrics were not saved: {exc}"
        if self._requeued_alone(worker, item, outcome.oom):
            return True
        if outcome.status == "cancelled":
            with self._cond:
                user = trial_id in self._user_cancelled or not self._stopping
            outcome.status = "cancelled" if user else "interrupted"
            outcome.error = "cancelled by the user" if user else "the job manager shut down while it ran"
        record_outcome(store, item.experiment_id, trial_id, outcome, self._latest(trial_id))
        return False

    def _reporter(self, item: _Item):
        """The trial's `report`: keep the latest progress, persist it throttled, and pick up cancel requests made
        through the store."""
        last_persist = [0.0]

        def report(progress: dict[str, Any]) -> None:
            if self._note_progress(item.trial_id, progress, last_persist):
                with self._cond:
                    self._user_cancelled.add(item.trial_id)
                item.cancel.set()

        return report
