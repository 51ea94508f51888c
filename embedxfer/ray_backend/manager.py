"""`RayJobManager`: the driver of the Ray backend. Every trial is a Ray task; this process writes the store.

Each trial is submitted as a task asking for `cpus_per_trial` CPUs and its share of a GPU; Ray decides where
and when it runs. One driver thread loops: it takes what running trials posted to the mailbox (start,
progress, metric rows) and writes it to the store as the thread backend would, then collects finished tasks
and records their outcomes and artifacts (`embedxfer.trial_outcome.record_outcome`).

Faults (docs/architecture.md, "Backends"): a cancel marks the trials in the mailbox (a running trial stops at
its next step, as on a thread) and drops tasks that have not started; a trial still running `force_after`
seconds after a cancel is killed. A task whose worker or node died is run again up to `retries` times, then
ends `interrupted`. When the driver itself dies, its trials stay `running` with its pid; the next manager
marks them `interrupted` (`Store.mark_interrupted`) and `resume` reruns only those.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from embedxfer.errors import EmbedxferError
from embedxfer.experiments import BaseConfig, ExperimentPlan, config_to_dict, parse_config
from embedxfer.job_base import SYNC_SECONDS, ManagerBase
from embedxfer.paths import write_atomic
from embedxfer.ray_backend.cluster import check_nodes, connect, describe, import_ray, worker_env
from embedxfer.ray_backend.mailbox import Mailbox
from embedxfer.ray_backend.needs import config_needs
from embedxfer.ray_backend.remote import run_remote_trial
from embedxfer.ray_backend.settings import RaySettings
from embedxfer.store import MetricBuffer, Store
from embedxfer.trial_outcome import TrialOutcome, record_outcome
from embedxfer.trials import TrialSpec


@dataclass
class _Task:
    """A trial submitted to Ray, as the driver tracks it."""

    experiment_id: str
    trial_id: str
    payload: dict[str, Any]
    resources: dict[str, float]
    ref: Any = None
    attempt: int = 0
    started: bool = False
    node: str | None = None
    device: str | None = None
    stop_asked_at: float | None = None
    buffer: MetricBuffer | None = None
    last_persist: list[float] = field(default_factory=lambda: [0.0])


class RayJobManager(ManagerBase):
    """Runs experiments' trials as Ray tasks and records everything in the store (same interface as JobManager)."""

    backend = "ray"

    def __init__(
        self,
        store: Store | None = None,
        settings: RaySettings | None = None,
        *,
        progress_interval: float = 1.0,
        metric_flush_rows: int = 500,
        metric_flush_seconds: float = 2.0,
        poll_seconds: float = 0.2,
        force_after: float = 30.0,
    ) -> None:
        self.settings = settings if settings is not None else RaySettings.from_env()
        ray = import_ray()
        super().__init__(store, progress_interval)
        self._ray = ray
        self._disconnect = connect(self.settings)
        self._flush_rows, self._flush_seconds = metric_flush_rows, metric_flush_seconds
        self._poll, self._force_after = poll_seconds, force_after
        self._last_sync = 0.0
        self._mailbox = ray.remote(num_cpus=0)(Mailbox).remote()
        self._remote = ray.remote(run_remote_trial)
        self._tasks: dict[str, _Task] = {}
        self._user_cancelled: set[str] = set()
        self._facts = {**describe(), "at": time.monotonic()}
        self._thread = threading.Thread(target=self._loop, name="embedxfer-ray-driver", daemon=True)
        self._thread.start()

    # ---------------------------------------------------------------- submitting
    def submit(
        self, plan: ExperimentPlan | BaseConfig | dict[str, Any], name: str | None = None, *, fresh: bool = False
    ) -> str:
        """Check the plan against the cluster (GPUs, what every node needs), store it, submit one task per trial
        (except those a completed trial already answers, unless `fresh`); returns the experiment id. Bad input and a
        node that lacks a folder fail here, before anything is stored."""
        experiment_id, config, trials = self._store_plan(plan, name, fresh)
        self._launch(experiment_id, config, trials)
        return experiment_id

    def resume(self, experiment_id: str) -> int:
        """Submit again the experiment's trials that did not complete; returns how many."""
        self._check_open()
        self._check_config(parse_config(self.store.get_experiment(experiment_id)["config"]))
        config, trials = self._requeue(experiment_id)
        self._launch(experiment_id, config, trials)
        return len(trials)

    def _check_plan(self, plan: ExperimentPlan) -> None:
        self._check_config(plan.config)

    def _check_config(self, config: BaseConfig) -> None:
        self._resources(config)
        check_nodes(config_needs(config_to_dict(config)), self.settings.where())

    def _resources(self, config: BaseConfig) -> dict[str, float]:
        """The Ray resource request of one trial of `config`."""
        gpus_here = self.describe()["gpus"]
        requested, share = config.device, self.settings.gpus_per_trial
        if requested == "cpu":
            gpus = 0.0
        elif requested == "auto":
            gpus = (1.0 if share is None else share) if gpus_here else 0.0
        elif not gpus_here:
            raise EmbedxferError(
                f"The config asks for device {requested}, but {self.settings.where()} has no GPU; set device to auto "
                "or cpu."
            )
        else:
            gpus = 1.0 if share is None or share == 0 else share
        return {"num_cpus": self.settings.cpus_per_trial, "num_gpus": gpus}

    def _launch(self, experiment_id: str, config: BaseConfig, trials: list[tuple[str, TrialSpec]]) -> None:
        if not trials:
            return
        resources = self._resources(config)
        config_dict = config_to_dict(config)
        if config_dict.get("device", "auto").startswith("cuda"):
            config_dict["device"] = "auto"  # Ray picks the GPU; the task sees only the ones it was given
        env, cwd = worker_env(self.settings), os.getcwd()
        with self._cond:
            for trial_id, spec in trials:
                payload = {
                    "trial_id": trial_id,
                    "config": config_dict,
                    "spec": spec.to_dict(),
                    "threads": max(1, int(self.settings.cpus_per_trial)),
                    "env": env,
                    "cwd": cwd,
                }
                task = _Task(experiment_id, trial_id, payload, resources)
                self._submit_task(task)
                self._tasks[trial_id] = task
            self._cond.notify_all()

    def _submit_task(self, task: _Task) -> None:
        task.buffer = MetricBuffer(
            self.store, task.trial_id, max_rows=self._flush_rows, max_seconds=self._flush_seconds
        )
        task.started, task.stop_asked_at, task.last_persist = False, None, [0.0]
        options = {**task.resources, "max_retries": 0}
        task.ref = self._remote.options(**options).remote(self._mailbox, task.payload)

    # ---------------------------------------------------------------- control and status
    def cancel(self, experiment_id: str | None = None, trial_id: str | None = None) -> int:
        """Cancel an experiment's trials (or one trial): tasks not started are dropped, running trials stop at their
        next step check. Works for trials run by another process too (through the store). Returns how many."""
        if (experiment_id is None) == (trial_id is None):
            raise ValueError("give exactly one of experiment_id or trial_id")
        affected = set(self.store.request_cancel(experiment_id=experiment_id, trial_id=trial_id))
        with self._cond:
            matching = [
                t
                for t in self._tasks.values()
                if (t.trial_id == trial_id if trial_id else t.experiment_id == experiment_id)
            ]
            self._user_cancelled.update(t.trial_id for t in matching)
        self._stop(matching)
        return len(affected | {t.trial_id for t in matching})

    def _stop(self, tasks: list[_Task]) -> None:
        """Ask running trials to stop; drop tasks Ray has not started."""
        if not tasks:
            return
        now = time.monotonic()
        for task in tasks:
            task.stop_asked_at = task.stop_asked_at or now
        self._mailbox.stop.remote([t.trial_id for t in tasks])
        for task in tasks:
            if not task.started:
                self._ray.cancel(task.ref, force=False)

    def workers(self) -> list[dict[str, Any]]:
        with self._cond:
            running = [t for t in self._tasks.values() if t.started]
            return [{"name": f"ray@{t.node}", "device": t.device, "trial_id": t.trial_id} for t in running]

    def slots(self) -> dict[str, int]:
        """Trials the cluster can place at once, by its CPUs (and GPUs) over what each trial asks for."""
        facts = self.describe()
        trials = facts["cpus"] / max(facts["cpus_per_trial"], 1e-9)
        if facts["gpus"] and facts["gpus_per_trial"]:
            trials = min(trials, facts["gpus"] / facts["gpus_per_trial"])
        return {"cpu": max(1, int(trials))}

    def describe(self) -> dict[str, Any]:
        """{"backend": "ray", "where", "nodes", "cpus", "gpus", "cpus_per_trial", "gpus_per_trial"} (nodes and
        resources re-read at most every 5 s)."""
        if time.monotonic() - self._facts["at"] > 5 and not self._stopping:
            try:
                self._facts = {**describe(), "at": time.monotonic()}
            except Exception:  # noqa: BLE001 - a busy head node must not break the sidebar; keep the last facts
                pass
        facts = {k: v for k, v in self._facts.items() if k != "at"}
        share = self.settings.gpus_per_trial
        return {
            "backend": "ray",
            "where": self.settings.where(),
            **facts,
            "cpus_per_trial": self.settings.cpus_per_trial,
            "gpus_per_trial": (1.0 if facts["gpus"] else 0.0) if share is None else share,
        }

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop: tasks not started are dropped and their trials become `interrupted`, running ones stop at their
        next step (killed after `force_after` s) and end `interrupted`; `resume` runs them later. Idempotent."""
        with self._cond:
            first = not self._stopping
            self._stopping = True
            tasks = list(self._tasks.values())
            self._cond.notify_all()
        if first:
            self._stop(tasks)
        if wait and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # ---------------------------------------------------------------- the driver loop
    def _loop(self) -> None:
        try:
            while True:
                with self._cond:
                    if self._stopping and not self._tasks:
                        return
                    refs = {t.ref: t for t in self._tasks.values()}
                    if not refs:
                        self._cond.wait(self._poll)
                        continue
                ready, _ = self._ray.wait(list(refs), num_returns=len(refs), timeout=self._poll)
                self._drain()
                self._sync_quiet()
                for ref in ready:
                    self._settle(refs[ref])
                self._force_overdue()
        except Exception:  # noqa: BLE001 - keep the store consistent even if Ray breaks under us
            import traceback

            traceback.print_exc()
            self._abandon("the Ray backend's driver loop failed")
        finally:
            self._close_ray()

    def _drain(self) -> None:
        """Write what running trials posted: start (the store's `running`), progress, metric rows."""
        for trial_id, batch in self._ray.get(self._mailbox.take.remote()):
            with self._cond:
                task = self._tasks.get(trial_id)
            if task is None:
                continue
            for kind, payload in batch:
                if kind == "start":
                    self._started(task, payload)
                elif kind == "progress" and task.started:
                    if self._note_progress(trial_id, payload, task.last_persist):
                        with self._cond:
                            self._user_cancelled.add(trial_id)
                        self._stop([task])
                elif kind == "metrics" and task.started and task.buffer is not None:
                    step, metrics = payload
                    task.buffer.add(step, metrics)

    def _sync_quiet(self) -> None:
        """At most every SYNC_SECONDS: write the rows and progress that started trials' batching held back, and stop
        those cancelled through the store by another process (a quiet trial posts nothing that would tell)."""
        now = time.monotonic()
        if now - self._last_sync < SYNC_SECONDS:
            return
        self._last_sync = now
        with self._cond:
            started = {t.trial_id: t for t in self._tasks.values() if t.started}
        buffers = {trial_id: task.buffer for trial_id, task in started.items()}
        requested = [started[i] for i in self._sync_running(buffers) if started[i].stop_asked_at is None]
        if requested:
            with self._cond:
                self._user_cancelled.update(t.trial_id for t in requested)
            self._stop(requested)

    def _started(self, task: _Task, facts: dict[str, Any]) -> None:
        task.node, task.device = facts.get("node"), facts.get("device")
        if not self.store.start_trial(task.trial_id, str(task.device), self.backend):
            self._stop([task])  # cancelled (maybe by another process) while it waited for a slot
            return
        task.started = True
        with self._cond:
            self._progress[task.trial_id] = {"node": task.node, "pid": facts.get("pid"), "updated_at": time.time()}

    def _settle(self, task: _Task) -> None:
        """A task finished (or was lost): record its outcome and artifacts, or run it again."""
        exceptions = self._ray.exceptions
        artifacts: dict[str, bytes] = {}
        try:
            result = self._ray.get(task.ref)
            outcome, artifacts = TrialOutcome.from_dict(result["outcome"]), result["artifacts"]
        except exceptions.TaskCancelledError:
            outcome = TrialOutcome("cancelled")
        except exceptions.RayTaskError as exc:  # raised outside execute_trial: e.g. the node's embedxfer differs
            outcome = TrialOutcome("failed", error=f"the Ray task failed: {str(exc).strip().splitlines()[-1]}")
        except exceptions.RayError as exc:  # the worker process or its node died
            if task.stop_asked_at is not None:
                outcome = TrialOutcome("cancelled")  # killed by us after a cancel
            elif task.attempt < self.settings.retries and not self._stopping:
                self._retry(task, exc)
                return
            else:
                reason = f"its Ray worker was lost ({type(exc).__name__}) on {task.node or 'an unknown node'}"
                outcome = TrialOutcome("interrupted", error=f"{reason}; `resume` runs it again")
        self._flush(task)
        if outcome.status == "cancelled":
            with self._cond:
                user = task.trial_id in self._user_cancelled or not self._stopping
            outcome.status = "cancelled" if user else "interrupted"
            outcome.error = "cancelled by the user" if user else "the job manager shut down while it ran"
        for name, data in artifacts.items():
            write_atomic(self.store.artifact_dir(task.trial_id) / name, data)
        self._end(task, outcome)

    def _retry(self, task: _Task, exc: BaseException) -> None:
        self._flush(task)
        message = (
            f"trial {task.trial_id}: its Ray worker was lost ({type(exc).__name__}) on {task.node or 'a node'}; "
            f"running it again (retry {task.attempt + 1} of {self.settings.retries})"
        )
        self.store.add_event(task.experiment_id, message, trial_id=task.trial_id, level="warning")
        self.store.requeue_trial(task.trial_id)
        with self._cond:
            self._progress.pop(task.trial_id, None)
            self._persisted.pop(task.trial_id, None)
        task.attempt += 1
        self._submit_task(task)

    def _end(self, task: _Task, outcome: TrialOutcome) -> None:
        if not record_outcome(self.store, task.experiment_id, task.trial_id, outcome, self._latest(task.trial_id)):
            # it never started here: only a queued trial may still need its end written
            error = outcome.error if outcome.status == "failed" else f"{outcome.status} before it started"
            self.store.finish_trial(task.trial_id, outcome.status, error=error, only_if=("queued",))
        with self._cond:
            self._tasks.pop(task.trial_id, None)
            self._progress.pop(task.trial_id, None)
            self._persisted.pop(task.trial_id, None)
            self._user_cancelled.discard(task.trial_id)
            self._cond.notify_all()
        self._mailbox.forget.remote([task.trial_id])

    def _flush(self, task: _Task) -> None:
        try:
            if task.buffer is not None:
                task.buffer.flush()
        except EmbedxferError as exc:
            self.store.add_event(task.experiment_id, f"per-step metrics of {task.trial_id} were not saved: {exc}")

    def _force_overdue(self) -> None:
        """Kill trials still running `force_after` seconds after they were asked to stop."""
        now = time.monotonic()
        with self._cond:
            overdue = [t for t in self._tasks.values() if t.stop_asked_at and now - t.stop_asked_at > self._force_after]
        for task in overdue:
            task.stop_asked_at = now  # once per period, not on every turn
            self._ray.cancel(task.ref, force=True)

    def _abandon(self, reason: str) -> None:
        """The loop cannot go on: every trial it tracked ends `interrupted` (resumable)."""
        with self._cond:
            tasks, self._tasks = list(self._tasks.values()), {}
            self._stopping = True
            self._cond.notify_all()
        for task in tasks:
            for status in ("running", "queued"):
                try:
                    self.store.finish_trial(task.trial_id, "interrupted", error=reason, only_if=(status,))
                except EmbedxferError:
                    pass

    def _close_ray(self) -> None:
        try:
            self._ray.kill(self._mailbox)
        except Exception:  # noqa: BLE001 - Ray may already be gone
            pass
        if self._disconnect is not None:
            self._disconnect()
