"""GPU packing on the thread backend (README, "GPU packing"), without a GPU: the decisions as pure functions with
stand-in numbers, then the job manager with fake cuda workers (`check_devices=False`), a stand-in free-memory
reader and a throwaway `gpu_pack_toy` kind whose trials run out of memory when another trial shares their device.

Every wait is on a state the test can see (a trial on the board, a trial's status); held trials wait at gates the
test opens. A trial the manager must not start beside others is observed where it does start: with a CPU worker
present, a trial the GPU has no room for goes to the CPU worker, so the test sees the decision either way."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import ClassVar

import pytest
import torch

from embedxfer import devices, gpu_packing
from embedxfer.engine import TrainResult, TrainSettings, autocasts_bf16
from embedxfer.errors import ConfigError
from embedxfer.experiments import (
    BaseConfig,
    ExperimentKind,
    KindCard,
    config_field,
    parse_config,
    register_kind,
    unregister_kind,
)
from embedxfer.gpu_packing import admits, budget, check_cap, pack_cap
from embedxfer.jobs import JobManager
from embedxfer.store import Store
from embedxfer.trial_outcome import OOM_HINT, TrialOutcome, execute_trial
from embedxfer.trials import TrialContext, TrialSpec

#: generous: waits return as soon as the state is reached, so only a hang takes this long
WAIT = 120.0
MB = 2**20
GB = 2**30


# ---------------------------------------------------------------- the decision, with stand-in numbers
def test_an_idle_device_takes_any_trial_even_one_over_its_budget():
    assert admits([], 50 * GB, budget=1 * GB, cap=4)
    assert admits([], 1, budget=None, cap=1, alone=True)


def test_a_busy_device_takes_trials_while_the_estimates_fit_and_the_cap_allows():
    room = budget(10 * GB)  # 9 GiB
    assert room == int(9 * GB)
    assert admits([4 * GB], 5 * GB, budget=room, cap=4)
    assert not admits([4 * GB], 5 * GB + 1, budget=room, cap=4)
    assert not admits([0, 0, 0, 0], 0, budget=room, cap=4)
    assert admits([0, 0, 0], 0, budget=room, cap=4)
    assert admits([GB] * 7, GB, budget=None, cap=None)  # explicit workers: their count alone decides
    assert budget(None) is None and budget(1000, fraction=0.5) == 500


def test_a_trial_that_must_run_alone_waits_for_an_empty_device_and_then_holds_it():
    assert not admits([1], 1, budget=None, cap=None, alone=True)
    assert admits([], 1, budget=None, cap=None, alone=True)
    assert not admits([1], 1, budget=None, cap=None, held=True)


def test_the_cap_comes_from_the_environment_and_is_checked(monkeypatch):
    monkeypatch.delenv(gpu_packing.ENV_GPU_PACK, raising=False)
    assert pack_cap() == gpu_packing.DEFAULT_CAP == 4
    monkeypatch.setenv(gpu_packing.ENV_GPU_PACK, " 2 ")
    assert pack_cap() == 2
    for bad in ("0", "two", "1.5"):
        monkeypatch.setenv(gpu_packing.ENV_GPU_PACK, bad)
        with pytest.raises(ConfigError, match="EMBEDXFER_GPU_PACK must be a whole number"):
            pack_cap()
    with pytest.raises(ConfigError, match="gpu_pack must be"):
        check_cap(True)
    assert check_cap(3) == 3


def test_the_estimate_comes_from_the_plans_model_sizes(monkeypatch):
    sizes = {"big": 100_000_000, "small": 1_000_000}

    def fake_arch(checkpoint):
        if checkpoint not in sizes:
            raise ValueError("not readable")
        return SimpleNamespace(num_parameters=sizes[checkpoint], hidden_size=8, ffn_size=32, num_heads=2, num_layers=2)

    monkeypatch.setattr("embedxfer.checkpoints.arch_info", fake_arch)
    finetune = parse_config({"kind": "finetune", "checkpoint": "small", "batch_size": 4, "max_length": 16})
    activations = gpu_packing.activation_bytes(batch_size=4, length=16, hidden=8, ffn=32, heads=2, layers=2)
    assert gpu_packing.trial_bytes(finetune) == 1_000_000 * gpu_packing.TRAIN_BYTES_PER_PARAM + activations
    probing = parse_config({"kind": "probing", "checkpoints": ["big", "small", "unreadable"]})
    assert gpu_packing.checkpoints_of(probing) == ["big", "small", "unreadable"]
    # a probing trial loads the checkpoint its condition names, forward only; an unreadable one counts 0
    assert gpu_packing.trial_bytes(probing, TrialSpec("small", 0, {})) == 4_000_000
    assert gpu_packing.trial_bytes(probing) == 404_000_000
    assert gpu_packing.trial_bytes(probing, TrialSpec("unreadable", 0, {})) == 0


def test_the_formula_is_close_above_the_measured_peak_of_minilm_l6():
    """README, "Sweeps on Ray": minilm-l6 (22,713,216 parameters) at batch 32, 64 tokens peaked at 528 MiB."""
    estimate = gpu_packing.model_bytes(22_713_216, trains=True) + gpu_packing.activation_bytes(
        batch_size=32, length=64, hidden=384, ffn=1536, heads=12, layers=6
    )
    assert 528 * MB < estimate < 1.2 * 528 * MB


def test_default_workers_pack_each_visible_gpu_and_explicit_counts_do_not(monkeypatch):
    monkeypatch.setattr(devices, "visible_gpus", lambda: ["cuda:0", "cuda:1"])
    monkeypatch.delenv(devices.ENV_WORKERS, raising=False)
    monkeypatch.delenv(gpu_packing.ENV_GPU_PACK, raising=False)
    workers = devices.configured_workers()
    assert workers == {"cuda:0": 4, "cuda:1": 4, "cpu": 1} and workers.gpu_pack == 4
    assert devices.configured_workers(gpu_pack=2) == {"cuda:0": 2, "cuda:1": 2, "cpu": 1}
    monkeypatch.setenv(gpu_packing.ENV_GPU_PACK, "1")
    assert devices.configured_workers() == {"cuda:0": 1, "cuda:1": 1, "cpu": 1}
    monkeypatch.setenv(devices.ENV_WORKERS, "cuda:0=3,cpu=1")
    explicit = devices.configured_workers()
    assert explicit == {"cuda:0": 3, "cpu": 1} and not hasattr(explicit, "gpu_pack")
    assert not hasattr(devices.configured_workers("cuda:1=2"), "gpu_pack")


# ---------------------------------------------------------------- bf16 autocast, said in the metrics
def test_bf16_autocast_is_on_where_the_gpu_computes_bf16_and_only_cuda_trials_say_so(monkeypatch):
    assert not autocasts_bf16(torch.device("cpu"), TrainSettings())
    monkeypatch.setattr("embedxfer.engine.bf16_supported", lambda device: device == "cuda:0")
    assert autocasts_bf16(torch.device("cuda:0"), TrainSettings())
    assert not autocasts_bf16(torch.device("cuda:1"), TrainSettings())
    assert not autocasts_bf16(torch.device("cuda:0"), TrainSettings(bf16=False))
    model = torch.nn.Linear(2, 2)
    on_cpu = TrainResult(steps=1, seconds=1.0, examples_seen=4, train_loss=0.5)
    assert "bf16_autocast" not in on_cpu.metrics(model)
    on_gpu = TrainResult(steps=1, seconds=1.0, examples_seen=4, train_loss=0.5, bf16_autocast=True)
    assert on_gpu.metrics(model)["bf16_autocast"] == 1.0


# ---------------------------------------------------------------- the manager, with a stand-in kind
class Board:
    """Which toy trials run on which device, who they started beside, and the gates held trials wait at."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.running: dict[str, str] = {}  # trial_id -> device
        self.starts: list[tuple[str, str, int]] = []  # (trial_id, device, trials already on that device)
        self.gates: dict[str, threading.Event] = {}  # condition -> its gate

    def enter(self, trial_id: str, device: str) -> int:
        with self.cond:
            beside = sum(d == device for d in self.running.values())
            self.running[trial_id] = device
            self.starts.append((trial_id, device, beside))
            self.cond.notify_all()
            return beside

    def leave(self, trial_id: str) -> None:
        with self.cond:
            self.running.pop(trial_id, None)
            self.cond.notify_all()

    def until(self, predicate) -> None:
        with self.cond:
            assert self.cond.wait_for(predicate, timeout=WAIT), "state not reached in time"

    def started(self, trial_id: str) -> list[tuple[str, int]]:
        with self.cond:
            return [(device, beside) for t, device, beside in self.starts if t == trial_id]


BOARD = Board()


@dataclass(kw_only=True)
class ToyConfig(BaseConfig):
    kind: ClassVar[str] = "gpu_pack_toy"
    task: str = config_field("none", help="unused")
    seeds: list[int] = config_field(factory=lambda: [0], help="seeds")
    condition: str = config_field("a", help="the one trial's condition; a gate of that name holds it")
    mode: str = config_field("", help="'' | oom-shared (out of memory beside another trial) | oom (always)")
    mb: int = config_field(0, help="the trial's estimated GPU memory in MiB (stands in for the model sizes)")


def _expand(config: ToyConfig) -> list[TrialSpec]:
    return [TrialSpec(config.condition, seed, {}) for seed in config.seeds]


def _run(config: ToyConfig, spec: TrialSpec, ctx: TrialContext) -> dict[str, float]:
    beside = BOARD.enter(ctx.trial_id, ctx.device)
    try:
        ctx.log_metrics(0, {"loss": 1.0})
        if config.mode == "oom" or (config.mode == "oom-shared" and beside):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        gate = BOARD.gates.get(spec.condition)
        while gate is not None and not gate.wait(0.02):
            ctx.check_cancel()
        return {"test_accuracy": 1.0}
    finally:
        BOARD.leave(ctx.trial_id)


@pytest.fixture(autouse=True, scope="module")
def _toy_kind():
    kind = ExperimentKind("gpu_pack_toy", ToyConfig, _expand, _run, "test kind", KindCard("GPU packing test", "?", "t"))
    yield register_kind(kind)
    unregister_kind("gpu_pack_toy")


@pytest.fixture()
def store(embedxfer_home, monkeypatch):
    """A store, a fresh board, and estimates read from the toy's `mb` field instead of checkpoint files."""
    global BOARD
    BOARD = Board()
    monkeypatch.setattr(gpu_packing, "trial_bytes", lambda config, spec=None: config.mb * MB)
    s = Store()
    yield s
    for gate in BOARD.gates.values():
        gate.set()  # a failing test must not leave trials held
    s.close()


def _hold(condition: str) -> threading.Event:
    BOARD.gates[condition] = threading.Event()
    return BOARD.gates[condition]


def _submit(manager: JobManager, condition: str, **fields) -> str:
    return manager.submit({"kind": "gpu_pack_toy", "condition": condition, **fields})


def _running(trial_id: str):
    return lambda: trial_id in BOARD.running


def _wait_requeued(store: Store, experiment_id: str) -> str:
    """Until the experiment has the event that its trial was queued again to run alone; returns it (the store
    is polled; the timeout only guards against a hang)."""
    deadline = time.monotonic() + WAIT
    while True:
        found = [e["message"] for e in store.events(experiment_id) if "queued again to run alone" in e["message"]]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"no trial of {experiment_id} was queued again"
        time.sleep(0.01)


def _manager(store: Store, **options) -> JobManager:
    options.setdefault("workers", {"cuda:0": 4, "cpu": 1})
    return JobManager(store, check_devices=False, progress_interval=0.02, **options)


def test_trials_share_a_gpu_while_their_estimates_fit_its_budget(store):
    gates = [_hold(c) for c in "abc"]
    manager = _manager(store, gpu_pack=4, free_memory=lambda device: 1000 * MB)  # budget 900 MiB
    try:
        a = _submit(manager, "a", mb=400)
        BOARD.until(_running(f"{a}-t000"))
        b = _submit(manager, "b", mb=400)
        BOARD.until(_running(f"{b}-t000"))
        c = _submit(manager, "c", mb=400)  # 1,200 MiB would not fit: the CPU worker takes it
        BOARD.until(_running(f"{c}-t000"))
        assert BOARD.started(f"{a}-t000") == [("cuda:0", 0)] and BOARD.started(f"{b}-t000") == [("cuda:0", 1)]
        assert BOARD.started(f"{c}-t000") == [("cpu", 0)]
        for gate in gates:
            gate.set()
        assert all(manager.wait(e, timeout=WAIT) == "completed" for e in (a, b, c))
    finally:
        manager.shutdown(wait=True, timeout=WAIT)


def test_an_idle_gpu_takes_a_trial_over_its_budget_and_the_cap_limits_small_ones(store):
    gates = [_hold(c) for c in "abcd"]
    manager = _manager(store, gpu_pack=2, free_memory=lambda device: 1000 * MB)
    try:
        big = _submit(manager, "a", mb=5000)
        BOARD.until(_running(f"{big}-t000"))
        small = _submit(manager, "b", mb=1)  # 5,001 MiB beside it would not fit
        BOARD.until(_running(f"{small}-t000"))
        assert BOARD.started(f"{big}-t000") == [("cuda:0", 0)] and BOARD.started(f"{small}-t000") == [("cpu", 0)]
        gates[0].set()
        assert manager.wait(big, timeout=WAIT) == "completed"
        first, second = _submit(manager, "c"), _submit(manager, "d")
        BOARD.until(lambda: len(BOARD.running) == 3)
        gates[1].set()  # the CPU worker finishes `small`, then takes the third zero-sized trial: the cap is 2
        third = _submit(manager, "e")
        BOARD.until(lambda: BOARD.started(f"{third}-t000"))
        assert [d for d, _ in BOARD.started(f"{first}-t000") + BOARD.started(f"{second}-t000")] == ["cuda:0"] * 2
        assert BOARD.started(f"{third}-t000") == [("cpu", 0)]
        for gate in gates:
            gate.set()
        assert all(manager.wait(e, timeout=WAIT) == "completed" for e in (small, first, second, third))
    finally:
        manager.shutdown(wait=True, timeout=WAIT)


def test_an_out_of_memory_beside_others_runs_again_alone_and_holds_the_gpu(store):
    hold_a, hold_b = _hold("a"), _hold("b")
    manager = _manager(store, gpu_pack=4, free_memory=lambda device: 100 * GB)
    try:
        a = _submit(manager, "a")
        BOARD.until(_running(f"{a}-t000"))
        b = _submit(manager, "b", mode="oom-shared")
        trial_b = f"{b}-t000"
        message = _wait_requeued(store, b)  # not failed: queued again, to run alone on cuda:0
        assert store.get_trial(trial_b)["status"] == "queued" and "ran out of memory on cuda:0" in message
        hold_a.set()
        BOARD.until(_running(trial_b))  # once `a` has left the GPU
        assert BOARD.started(trial_b) == [("cuda:0", 1), ("cuda:0", 0)]
        c = _submit(manager, "c")  # the GPU is held by `b`: the CPU worker takes this one
        BOARD.until(lambda: BOARD.started(f"{c}-t000"))
        assert BOARD.started(f"{c}-t000") == [("cpu", 0)]
        hold_b.set()
        assert all(manager.wait(e, timeout=WAIT) == "completed" for e in (a, b, c))
        assert len(store.step_metrics(trial_b)) == 1  # the failed run's rows were cleared with it
    finally:
        manager.shutdown(wait=True, timeout=WAIT)


def test_out_of_memory_alone_fails_with_the_hint_even_with_explicit_workers(store):
    """Explicit counts are not packed (no budget is read), but an OOM beside others still gets a run alone."""

    def no_reading(device: str) -> int:
        raise AssertionError("explicit workers read no budget")

    hold_a = _hold("a")
    manager = _manager(store, workers={"cuda:0": 2}, free_memory=no_reading)
    try:
        a = _submit(manager, "a")
        BOARD.until(_running(f"{a}-t000"))
        b = _submit(manager, "b", mode="oom")
        trial_b = f"{b}-t000"
        _wait_requeued(store, b)
        hold_a.set()
        assert manager.wait(b, timeout=WAIT) == "failed" and manager.wait(a, timeout=WAIT) == "completed"
        assert store.get_trial(trial_b)["error"] == f"Out of memory on cuda:0: {OOM_HINT}."
        assert BOARD.started(trial_b) == [("cuda:0", 1), ("cuda:0", 0)]
        alone = _submit(manager, "c", mode="oom")  # never shared its GPU: fails at once, no second run
        assert manager.wait(alone, timeout=WAIT) == "failed"
        assert len(BOARD.started(f"{alone}-t000")) == 1
        assert sum("run alone" in e["message"] for e in store.events(alone)) == 0
    finally:
        manager.shutdown(wait=True, timeout=WAIT)


def test_default_workers_start_the_cap_per_gpu(store, monkeypatch):
    monkeypatch.setattr(devices, "visible_gpus", lambda: ["cuda:0"])
    monkeypatch.delenv(devices.ENV_WORKERS, raising=False)
    monkeypatch.setenv(gpu_packing.ENV_GPU_PACK, "3")
    read: list[str] = []
    manager = JobManager(store, check_devices=False, free_memory=lambda device: read.append(device) or GB)
    try:
        assert [w["device"] for w in manager.workers()] == ["cuda:0"] * 3 + ["cpu"]
        assert read == ["cuda:0"]  # one reading per GPU, when the manager starts
    finally:
        manager.shutdown(wait=True, timeout=WAIT)


def test_the_out_of_memory_flag_travels_with_the_outcome():
    """The Ray backend ships outcomes as dicts: the flag must survive the trip."""
    config = parse_config({"kind": "gpu_pack_toy", "mode": "oom"})
    outcome = execute_trial(config, TrialSpec("a", 0, {}), TrialContext(trial_id="x", device="cuda:0"))
    assert outcome.oom and outcome.status == "failed"
    assert TrialOutcome.from_dict(outcome.to_dict()) == outcome
    assert not TrialOutcome.from_dict({"status": "completed"}).oom
