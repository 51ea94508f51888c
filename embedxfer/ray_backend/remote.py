"""What runs inside a Ray task: one trial, reporting through the mailbox, its artifacts returned as bytes.

The trial runs exactly as on a worker thread (`embedxfer.trial_outcome.execute_trial`), with a `TrialContext`
whose `report` and `log_metrics` collect into a `Relay`; a relay thread posts them to the mailbox every
`POST_SECONDS` and sets the trial's cancel token when the driver asks it to stop. Artifacts are written to a
temporary folder on the node and returned with the outcome, so the driver's store gets them on any cluster.
"""

from __future__ import annotations

import os
import tempfile
import threading
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from pathlib import Path
from typing import Any

from embedxfer.ray_backend.mailbox import POST_SECONDS
from embedxfer.trials import TrialContext, TrialSpec


class Relay:
    """Collects a trial's reports and metric rows and posts them to the mailbox from its own thread.

    Nothing here waits on Ray while the trial runs: Ray lends a task's CPUs to other tasks while it waits in
    `ray.get` or `ray.wait` (even `ray.wait(timeout=0)`), so that would start another trial on CPUs this one
    still uses. Each post's reply (whether to stop) arrives through a future's callback. After the trial ended,
    `finish` waits on those futures (plain futures, not Ray's calls), so every row is in the mailbox before
    the task returns."""

    def __init__(self, mailbox: Any, trial_id: str, cancel: threading.Event) -> None:
        self.mailbox, self.trial_id, self.cancel = mailbox, trial_id, cancel
        self._lock = threading.Lock()
        self._batch: list[tuple[str, Any]] = []
        self._latest: dict[str, Any] | None = None
        self._replies: list[Future] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"relay-{trial_id}", daemon=True)

    def report(self, progress: dict[str, Any]) -> None:
        with self._lock:
            self._latest = {**(self._latest or {}), **progress}

    def log_metrics(self, step: int, metrics: dict[str, float]) -> None:
        with self._lock:
            self._batch.append(("metrics", (int(step), {k: float(v) for k, v in metrics.items()})))

    def post(self, extra: list[tuple[str, Any]] | None = None) -> None:
        """Post what was collected (`extra` first) without waiting for the reply."""
        with self._lock:
            batch, self._batch = list(extra or []) + self._batch, []
            if self._latest is not None:
                batch.append(("progress", self._latest))
                self._latest = None
            reply = self.mailbox.post.remote(self.trial_id, batch).future()
            self._replies = [r for r in self._replies if not r.done()] + [reply]
        reply.add_done_callback(self._read)

    def _read(self, reply: Future) -> None:
        try:
            if reply.result():
                self.cancel.set()
        except Exception:  # noqa: BLE001 - a lost post costs live progress only; the outcome still comes back
            pass

    def start(self) -> None:
        self._thread.start()

    def finish(self) -> None:
        """Stop the relay thread, post the rest and wait until the mailbox has everything."""
        self._done.set()
        self._thread.join()
        self.post()
        with self._lock:
            replies = list(self._replies)
        wait_futures(replies, timeout=60)

    def _loop(self) -> None:
        while not self._done.wait(POST_SECONDS):
            try:
                self.post()
            except Exception:  # noqa: BLE001 - live progress is best effort; the outcome still comes back
                pass


def _worker_device() -> str:
    """cuda:0 when Ray gave this task a GPU (it sets CUDA_VISIBLE_DEVICES to the ones it gave), else cpu."""
    import ray

    return "cuda:0" if ray.get_gpu_ids() else "cpu"


def run_remote_trial(mailbox: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """The body of every trial's Ray task. `payload`: trial_id, config (dict), spec (dict), threads, env, cwd.
    Returns {"outcome": TrialOutcome as dict, "artifacts": {relative path: bytes}}."""
    os.environ.update(payload.get("env") or {})
    if payload.get("cwd") and os.path.isdir(payload["cwd"]):
        os.chdir(payload["cwd"])  # relative paths in a config mean what they meant to the driver
    import ray
    import torch

    from embedxfer.experiments import parse_config
    from embedxfer.trial_outcome import execute_trial

    torch.set_num_threads(max(1, int(payload.get("threads") or 1)))
    trial_id = payload["trial_id"]
    cancel = threading.Event()
    relay = Relay(mailbox, trial_id, cancel)
    device = _worker_device()
    node = ray.util.get_node_ip_address()
    relay.post([("start", {"device": device, "node": node, "pid": os.getpid()})])
    with tempfile.TemporaryDirectory(prefix=f"embedxfer-{trial_id}-") as tmp:
        ctx = TrialContext(
            trial_id=trial_id,
            device=device,
            artifact_dir=Path(tmp),
            cancel=cancel,
            report=relay.report,
            log_metrics=relay.log_metrics,
        )
        relay.start()
        try:
            outcome = execute_trial(parse_config(payload["config"]), TrialSpec.from_dict(payload["spec"]), ctx)
        finally:
            relay.finish()
        artifacts = {str(p.relative_to(tmp)): p.read_bytes() for p in sorted(Path(tmp).rglob("*")) if p.is_file()}
    return {"outcome": outcome.to_dict(), "artifacts": artifacts}


def node_facts(needs: list[dict[str, Any]]) -> dict[str, Any]:
    """Run on one node before submitting: its embedxfer version and which of `needs` it lacks."""
    try:
        import embedxfer
        from embedxfer.ray_backend.needs import missing_here
    except ImportError as exc:
        return {"version": None, "missing": [f"embedxfer cannot be imported ({exc})"]}
    return {"version": embedxfer.__version__, "missing": missing_here(needs)}
