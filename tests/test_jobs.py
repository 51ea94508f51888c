"""The job manager, driven by a throwaway `dummy_sleep` kind (no torch, a few ms per trial); tests that cancel,
interrupt or resume a running trial hold it at a gate (the `gated` kind, tests/gated_kind.py)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import ClassVar

import pytest

from embedxfer.errors import ConfigError, TaskError
from embedxfer.experiments import BaseConfig, ExperimentKind, KindCard, config_field, register_kind, unregister_kind
from embedxfer.jobs import JobManager
from embedxfer.results import experiment_json
from embedxfer.store import Store
from embedxfer.trials import TrialDiverged, TrialSpec

#: generous: a wait returns as soon as the state is reached, so only a hang takes this long
WAIT = 120.0
RUN_LOG: list[tuple[str, str]] = []  # (trial_id, device) in start order
_FAILED_ONCE: set[str] = set()
_LOG_LOCK = threading.Lock()


@dataclass(kw_only=True)
class DummyConfig(BaseConfig):
    kind: ClassVar[str] = "dummy_sleep"
    task: str = config_field("none", help="unused")
    seeds: list[int] = config_field(factory=lambda: [0], help="seeds")
    conditions: list[str] = config_field(factory=lambda: ["a"], help="one trial per condition and seed")
    steps: int = config_field(3, help="steps per trial")
    fail: dict[str, str] = config_field(
        factory=dict, help="condition -> what goes wrong: runtime | user | oom | diverge | once | not_a_dict"
    )


def _expand(config: DummyConfig) -> list[TrialSpec]:
    return [TrialSpec(c, s, {"train_size": config.train_size}) for c in config.conditions for s in config.seeds]


def _run(config: DummyConfig, spec: TrialSpec, ctx) -> dict[str, float]:
    with _LOG_LOCK:
        RUN_LOG.append((ctx.trial_id, ctx.device))
    mode = config.fail.get(spec.condition)
    ctx.report({"phase": "loading"})  # like real kinds: a first report before the step count is known
    for step in range(config.steps):
        ctx.check_cancel()
        loss = 1.0 / (step + 1)
        if mode == "diverge" and step == 2:
            raise TrialDiverged(step, float("nan"))
        if mode == "runtime" and step == 1:
            raise RuntimeError("boom")
        if mode == "user":
            raise TaskError("Task 'none' needs a train_size; set one.")
        if mode == "oom":
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        if mode == "once" and ctx.trial_id not in _FAILED_ONCE:
            _FAILED_ONCE.add(ctx.trial_id)
            raise RuntimeError("flaky")
        ctx.report({"step": step + 1, "total": config.steps, "loss": loss})
        ctx.log_metrics(step, {"loss": loss})
    (ctx.artifact_dir / "done.txt").write_text("ok")
    if mode == "not_a_dict":
        return [1.0]  # type: ignore[return-value]
    return {"test_accuracy": 0.5 + 0.1 * spec.seed, "final_loss": 1.0 / config.steps}


@pytest.fixture(autouse=True, scope="module")
def _dummy_kind():
    """Register `dummy_sleep` for this module only, so other tests' kind lists stay clean."""
    kind = register_kind(
        ExperimentKind(
            name="dummy_sleep",
            config_cls=DummyConfig,
            expand=_expand,
            run_trial=_run,
            description="test kind",
            card=KindCard("Job test", "?", "tests"),
            primary_metric="test_accuracy",
            group_params=("train_size",),
        )
    )
    yield kind
    unregister_kind("dummy_sleep")


def _config(**fields) -> dict:
    return {"kind": "dummy_sleep", **fields}


@pytest.fixture()
def store(embedxfer_home):
    s = Store()
    yield s
    s.close()


@pytest.fixture()
def manager(store):
    with JobManager(store, workers={"cpu": 1}, progress_interval=0.02) as m:
        yield m


def _wait_for(predicate, timeout: float = 120.0) -> None:
    """Wait for a state; the timeout only guards against a hang."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.005)


def _statuses(store: Store, exp_id: str) -> list[str]:
    return [t["status"] for t in store.list_trials(exp_id)]


def test_submit_wait_and_json(manager, store):
    exp_id = manager.submit(_config(conditions=["a", "b"], seeds=[0, 1], train_size=16, steps=4), name="demo")
    assert manager.wait(exp_id, timeout=WAIT) == "completed"
    data = experiment_json(store, exp_id)
    assert list(data) == ["experiment_id", "kind", "status", "config", "trials", "summary"]
    assert data["kind"] == "dummy_sleep" and data["config"]["steps"] == 4 and data["config"]["kind"] == "dummy_sleep"
    assert [(t["condition"], t["seed"], t["status"]) for t in data["trials"]] == [
        ("a", 0, "completed"),
        ("a", 1, "completed"),
        ("b", 0, "completed"),
        ("b", 1, "completed"),
    ]
    assert data["trials"][1]["metrics"] == {"final_loss": 0.25, "test_accuracy": pytest.approx(0.6)}
    first = data["summary"][0]
    assert first["condition"] == "a" and first["params"] == {"train_size": 16} and first["metric"] == "test_accuracy"
    assert first["n"] == 2 and first["mean"] == pytest.approx(0.55) and first["ci_low"] < 0.55 < first["ci_high"]
    tid = data["trials"][0]["trial_id"]
    curve = store.step_metrics(tid)
    assert curve["step"].tolist() == [0, 1, 2, 3] and curve["value"].iloc[0] == 1.0  # flushed at trial end
    trial = store.get_trial(tid)
    assert trial["device"] == "cpu" and trial["step"] == 4 and trial["total_steps"] == 4
    assert (store.artifact_dir(tid) / "done.txt").read_text() == "ok"
    assert store.get_experiment(exp_id)["name"] == "demo"


def test_trials_run_in_fifo_order(manager, store):
    RUN_LOG.clear()
    first = manager.submit(_config(seeds=[0, 1, 2]))
    second = manager.submit(_config(seeds=[0, 1]), fresh=True)  # fresh: run even what `first` finished meanwhile
    assert manager.wait(second, timeout=WAIT) == "completed" and manager.wait(first, timeout=WAIT) == "completed"
    expected = [t["trial_id"] for t in store.list_trials(first) + store.list_trials(second)]
    assert [tid for tid, _ in RUN_LOG] == expected


def test_cancel_queued_and_running(manager, store, gated, gate):
    long = manager.submit(gate.config(steps=4, hold_at=2))
    queued = manager.submit(_config(seeds=[0, 1]))
    gate.wait_for(1)  # the trial is held mid-run until the gate opens, which it never does here
    assert manager.cancel(experiment_id=queued) == 2
    assert _statuses(store, queued) == ["cancelled", "cancelled"]  # at once, not when a worker gets there
    assert manager.cancel(trial_id=f"{long}-t000") == 1
    assert manager.wait(long, timeout=WAIT) == "cancelled"
    trial = store.get_trial(f"{long}-t000")
    assert (trial["status"], trial["step"], trial["total_steps"]) == ("cancelled", 2, 4)
    assert any("cancelled" in e["message"] for e in store.events(long))
    after = manager.submit(_config())  # the worker is still there
    assert manager.wait(after, timeout=WAIT) == "completed"


def test_cancel_through_the_store_from_another_process(manager, store, gated, gate):
    exp_id = manager.submit(gate.config())
    gate.wait_for(1)
    Store(store.root).request_cancel(experiment_id=exp_id)  # what `embedxfer cancel` in another process does
    assert manager.wait(exp_id, timeout=WAIT) == "cancelled"


def test_failing_trial_does_not_stop_others(manager, store):
    exp_id = manager.submit(_config(conditions=["a", "b", "c"], fail={"b": "runtime"}))
    assert manager.wait(exp_id, timeout=WAIT) == "partial"
    trials = store.list_trials(exp_id)
    assert [t["status"] for t in trials] == ["completed", "failed", "completed"]
    assert trials[1]["error"] == "RuntimeError: boom"
    events = [e for e in store.events(exp_id) if e["level"] == "error"]
    assert "Traceback" in events[0]["message"] and "boom" in events[0]["message"]
    assert len(store.step_metrics(trials[1]["trial_id"])) == 1  # metrics logged before the failure are kept
    assert manager.wait(manager.submit(_config()), timeout=WAIT) == "completed"


@pytest.mark.parametrize(
    ("mode", "status", "error"),
    [
        ("user", "failed", "Task 'none' needs a train_size; set one."),
        ("oom", "failed", "Out of memory on cpu: reduce batch_size or max_length, or run on cpu."),
        ("diverge", "diverged", "loss became nan at step 2"),
        ("not_a_dict", "failed", "TypeError: run_trial must return a dict of metric name -> number, got list"),
    ],
)
def test_failure_kinds(manager, store, mode, status, error):
    exp_id = manager.submit(_config(fail={"a": mode}))
    manager.wait(exp_id, timeout=WAIT)
    trial = store.get_trial(f"{exp_id}-t000")
    assert (trial["status"], trial["error"]) == (status, error)
    if mode == "diverge":
        assert trial["step"] == 2


def test_resume_runs_only_unfinished(manager, store):
    RUN_LOG.clear()
    exp_id = manager.submit(_config(conditions=["a", "b"], seeds=[0, 1], fail={"b": "once"}))
    assert manager.wait(exp_id, timeout=WAIT) == "partial"
    done_before = store.final_metrics(f"{exp_id}-t000")
    assert manager.resume(exp_id) == 2
    assert manager.wait(exp_id, timeout=WAIT) == "completed"
    ran = [tid for tid, _ in RUN_LOG]
    assert ran.count(f"{exp_id}-t000") == 1 and ran.count(f"{exp_id}-t002") == 2
    assert store.final_metrics(f"{exp_id}-t000") == done_before
    assert manager.resume(exp_id) == 0


def test_shutdown_interrupts_and_a_new_manager_resumes(store, gated, gate):
    manager = JobManager(store, workers={"cpu": 1}, progress_interval=0.02)
    try:
        long = manager.submit(gate.config())
        queued = manager.submit(_config())
        gate.wait_for(1)
        manager.shutdown(wait=True, timeout=WAIT)
    finally:
        manager.shutdown(wait=False)
    assert _statuses(store, long) == ["interrupted"] and _statuses(store, queued) == ["interrupted"]
    with pytest.raises(RuntimeError):
        manager.submit(_config())
    gate.open()
    with JobManager(store, workers={"cpu": 1}) as again:
        assert again.resume(queued) == 1 and again.resume(long) == 1
        assert again.wait(queued, timeout=WAIT) == "completed"
        assert again.wait(long, timeout=WAIT) == "completed"


def test_device_routing(store):
    RUN_LOG.clear()
    with JobManager(store, workers={"cpu": 1}) as cpu_only:
        exp_id = cpu_only.submit(_config(device="cuda"))
        assert cpu_only.wait(exp_id, timeout=WAIT) == "failed"
        assert "No worker runs on cuda" in store.get_trial(f"{exp_id}-t000")["error"]
    with JobManager(store, workers={"cuda:0": 1, "cpu": 1}, check_devices=False) as mixed:
        on_cpu = mixed.submit(_config(device="cpu", seeds=[0, 1]))
        auto = mixed.submit(_config(device="auto"), fresh=True)  # fresh: run it, not the cpu trial it equals
        assert mixed.wait(on_cpu, timeout=WAIT) == "completed" and mixed.wait(auto, timeout=WAIT) == "completed"
        devices = dict(RUN_LOG)
        assert devices[f"{on_cpu}-t000"] == "cpu" and devices[f"{on_cpu}-t001"] == "cpu"
        assert devices[f"{auto}-t000"] == "cuda:0"  # the idle GPU worker is preferred
        assert store.get_trial(f"{auto}-t000")["device"] == "cuda:0"
    with pytest.raises(ConfigError):
        JobManager(store, workers={"tpu": 1})
    with pytest.raises(ConfigError):
        JobManager(store, workers={"cpu": 0})


def test_progress_and_active(manager, store, gated, gate):
    exp_id = manager.submit(gate.config(steps=4, hold_at=2))
    gate.wait_for(1)
    entry = manager.progress(exp_id)[f"{exp_id}-t000"]
    assert (entry["status"], entry["step"], entry["total"], entry["loss"]) == ("running", 2, 4, 0.5)
    _wait_for(lambda: store.get_trial(f"{exp_id}-t000")["step"] > 0)  # persisted, throttled
    active = manager.active()
    assert active["running"] == 1 and active["workers"][0]["trial_id"] == f"{exp_id}-t000"
    manager.cancel(experiment_id=exp_id)
    manager.wait(exp_id, timeout=WAIT)
    active = manager.active()
    assert active["running"] == 0 and active["finished_today"] >= 1 and active["workers"][0]["trial_id"] is None


def test_a_quiet_trial_still_shows_its_latest_step_and_rows(store, gated, gate):
    """A trial that stops reporting (here: held at the gate) still gets its throttled step and its batched metric
    rows into the store, and a cancel from another process still reaches it."""
    with JobManager(store, workers={"cpu": 1}, progress_interval=3600, metric_flush_seconds=0.2) as quiet:
        exp_id = quiet.submit(gate.config(steps=4, hold_at=3))
        gate.wait_for(1)
        _wait_for(lambda: store.get_trial(f"{exp_id}-t000")["step"] == 3)
        _wait_for(lambda: len(store.step_metrics(f"{exp_id}-t000")) == 3)
        assert store.get_trial(f"{exp_id}-t000")["status"] == "running"
        Store(store.root).request_cancel(experiment_id=exp_id)
        assert quiet.wait(exp_id, timeout=WAIT) == "cancelled"


def test_bad_config_is_rejected_before_anything_is_stored(manager, store):
    with pytest.raises(ConfigError, match="colour"):
        manager.submit(_config(colour="red"))
    with pytest.raises(ConfigError, match="seeds"):
        manager.submit(_config(seeds=[]))
    assert store.list_experiments() == []


def test_delete_cancels_then_removes(manager, store, gated, gate):
    exp_id = manager.submit(gate.config())
    gate.wait_for(1)
    manager.delete(exp_id, timeout=WAIT)
    assert store.list_experiments() == []


def test_total_steps_are_kept_when_a_trial_ends_between_progress_writes(store):
    """Progress writes are throttled; a quick trial must still end with its step *and* total stored."""
    with JobManager(store, workers={"cpu": 1}, progress_interval=3600) as slow_persist:
        exp_id = slow_persist.submit(_config(steps=5))
        assert slow_persist.wait(exp_id, timeout=WAIT) == "completed"
    (trial,) = store.list_trials(exp_id)
    assert (trial["step"], trial["total_steps"]) == (5, 5)
