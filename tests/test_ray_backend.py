"""The Ray backend on a local Ray (2 CPUs, no dashboard): same rows as threads, cancel, lost workers, resume,
what workers need, settings, the CLI and the sidebar. Waits are on states, never on elapsed time: a trial that is
cancelled or loses its worker is held at a gate (the `gated` kind, tests/gated_kind.py, which the workers import
through EMBEDXFER_PLUGINS) until the test lets it go on."""

from __future__ import annotations

import math
import os
import shutil
import signal
import sys
import time

import pytest
import ray
from gate import plugin_env
from page_support import open_page, wait_finished
from ray_support import ray_config

from embedxfer.errors import ConfigError, EmbedxferError
from embedxfer.jobs import JobManager
from embedxfer.ray_backend.cluster import check_nodes, missing_message
from embedxfer.ray_backend.manager import RayJobManager
from embedxfer.ray_backend.needs import Need, config_needs
from embedxfer.ray_backend.settings import RaySettings, configured_backend
from embedxfer.results import experiment_json
from embedxfer.store import Store

#: metrics that measure the machine, not the model
TIMING = {"examples_per_second", "train_seconds"}


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray for the module (starting one costs seconds); managers find it connected and reuse it."""
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        logging_level="warning",
        runtime_env={"env_vars": plugin_env()},  # the workers know the `gated` kind; this process gets the fixture
    )
    yield
    ray.shutdown()


def _wait_running(manager, experiment_id: str, *, key: str = "pid") -> tuple[str, dict]:
    """The first running trial once it has reported `key` and a step (the timeout only guards against a hang)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        for trial_id, p in manager.progress(experiment_id).items():
            if p["status"] == "running" and p.get(key) and (p.get("step") or 0) > 0:
                return trial_id, p
        time.sleep(0.2)
    raise AssertionError(f"no trial of {experiment_id} started: {manager.progress(experiment_id)}")


def test_ray_run_stores_the_same_rows_as_the_thread_backend(tmp_path, embedxfer_home, tiny_checkpoints):
    # two trials of two steps: small enough that a core shared three ways finishes well inside the timeout
    config = ray_config(tiny_checkpoints["bert"], seeds=[0], train_size=32, eval_size=16, max_length=16)
    stores = {"thread": Store(tmp_path / "threads"), "ray": Store(tmp_path / "ray")}
    with JobManager(stores["thread"], workers={"cpu": 1}) as manager:
        ids = {"thread": manager.submit(config)}
        wait_finished(stores["thread"], ids["thread"])
    # 2 CPUs per trial: one trial at a time with torch's two threads, as the thread backend ran them
    with RayJobManager(stores["ray"], RaySettings(cpus_per_trial=2)) as manager:
        ids["ray"] = manager.submit(config)
        assert wait_finished(stores["ray"], ids["ray"]) == "completed"
    results = {name: experiment_json(stores[name], ids[name]) for name in stores}
    assert len(results["ray"]["trials"]) == 2
    for threaded, rayed in zip(results["thread"]["trials"], results["ray"]["trials"], strict=True):
        assert (rayed["condition"], rayed["seed"], rayed["params"], rayed["status"]) == (
            threaded["condition"],
            threaded["seed"],
            threaded["params"],
            threaded["status"],
        )
        assert (threaded["backend"], rayed["backend"]) == ("thread", "ray")
        assert set(rayed["metrics"]) == set(threaded["metrics"])
        for name, value in threaded["metrics"].items():
            if name not in TIMING:
                assert math.isclose(rayed["metrics"][name], value, rel_tol=1e-5, abs_tol=1e-7), name
        steps = {n: stores[n].step_metrics(t["trial_id"]) for n, t in (("thread", threaded), ("ray", rayed))}
        assert len(steps["ray"]) == len(steps["thread"]) > 0
    assert results["ray"]["summary"][0]["mean"] == pytest.approx(results["thread"]["summary"][0]["mean"], rel=1e-5)


def test_cancel_stops_running_and_queued_ray_trials(embedxfer_home, gated, gate):
    store = Store()
    with RayJobManager(store, RaySettings(cpus_per_trial=2)) as manager:
        experiment_id = manager.submit(gate.config(seeds=[0, 1], steps=4, hold_at=2))
        running, _ = _wait_running(manager, experiment_id)
        assert gate.wait_for(1) == [running]
        assert manager.cancel(experiment_id=experiment_id) == 2
        assert wait_finished(store, experiment_id) == "cancelled"
    trials = {t["trial_id"]: t for t in store.list_trials(experiment_id)}
    assert {t["status"] for t in trials.values()} == {"cancelled"}
    assert trials[running]["error"] == "cancelled by the user" and trials[running]["backend"] == "ray"
    assert (trials[running]["step"], trials[running]["total_steps"]) == (2, 4)
    other = next(t for tid, t in trials.items() if tid != running)
    assert other["error"] == "cancelled before it started"


def test_a_quiet_ray_trial_shows_its_rows_and_takes_a_cancel_from_another_process(embedxfer_home, gated, gate):
    store = Store()
    with RayJobManager(store, RaySettings(cpus_per_trial=2), progress_interval=3600) as manager:
        experiment_id = manager.submit(gate.config(steps=4, hold_at=3))
        trial_id, _ = _wait_running(manager, experiment_id)
        gate.wait_for(1)
        deadline = time.monotonic() + 240  # only a guard against a hang: each wait is on a state
        while store.get_trial(trial_id)["step"] != 3 or len(store.step_metrics(trial_id)) != 3:
            assert time.monotonic() < deadline, store.get_trial(trial_id)
            time.sleep(0.1)
        Store(store.root).request_cancel(experiment_id=experiment_id)  # what `embedxfer cancel` does
        assert wait_finished(store, experiment_id) == "cancelled"
    assert store.get_trial(trial_id)["error"] == "cancelled by the user"


def test_killed_worker_interrupts_its_trial_and_resume_completes_it(embedxfer_home, gated, gate):
    store = Store()
    with RayJobManager(store, RaySettings(cpus_per_trial=2)) as manager:
        experiment_id = manager.submit(gate.config(steps=4, hold_at=2))
        trial_id, progress = _wait_running(manager, experiment_id)
        gate.wait_for(1)
        os.kill(int(progress["pid"]), signal.SIGKILL)
        assert wait_finished(store, experiment_id) == "interrupted"
        trial = store.get_trial(trial_id)
        assert "Ray worker was lost" in trial["error"] and "resume" in trial["error"]
        gate.open()
        assert manager.resume(experiment_id) == 1
        assert wait_finished(store, experiment_id) == "completed"
    assert store.final_metrics(trial_id)["steps"] == 4


def test_a_retry_reruns_a_trial_whose_worker_died(embedxfer_home, gated, gate):
    store = Store()
    with RayJobManager(store, RaySettings(cpus_per_trial=2, retries=1)) as manager:
        experiment_id = manager.submit(gate.config(steps=4, hold_at=2))
        trial_id, progress = _wait_running(manager, experiment_id)
        gate.wait_for(1)
        os.kill(int(progress["pid"]), signal.SIGKILL)
        gate.open()  # the retry may go through
        assert wait_finished(store, experiment_id) == "completed"
    assert any("running it again (retry 1 of 1)" in e["message"] for e in store.events(experiment_id))
    steps = store.step_metrics(trial_id)
    assert len(steps) and not steps.duplicated(["name", "step"]).any()  # the lost attempt's rows were cleared


def test_a_missing_local_path_is_refused_before_anything_is_submitted(tmp_path, embedxfer_home, tiny_checkpoints):
    folder = tmp_path / "copy-of-bert"
    shutil.copytree(tiny_checkpoints["bert"], folder)
    config = ray_config(folder)
    needs = config_needs(config)
    assert Need("checkpoint folder", str(folder), str(folder)) in needs
    check_nodes(needs, "the test's Ray")  # every node has it: no error
    missing = Need("data file", "file:/nowhere/x.csv?text=t&label=l", "/nowhere/x.csv")
    with pytest.raises(
        EmbedxferError, match=r"1 of 1 node\(s\) of the test's Ray .*on node .*data file .*/nowhere/x.csv"
    ):
        check_nodes([*needs, missing], "the test's Ray")
    shutil.rmtree(folder)
    store = Store()
    with RayJobManager(store, RaySettings()) as manager:
        with pytest.raises(EmbedxferError, match="does not exist"):
            manager.submit(config)
        with pytest.raises(EmbedxferError, match="has no GPU; set device to auto or cpu"):
            manager.submit(ray_config(tiny_checkpoints["bert"], device="cuda"))
    assert store.list_experiments() == []


def test_missing_message_names_each_node_and_a_version_mismatch():
    reports = {
        "10.0.0.2": {"version": "0.1.0", "missing": []},
        "10.0.0.3": {"version": "0.1.0", "missing": ["checkpoint folder /data/ckpt"]},
        "10.0.0.4": {"version": "0.0.9", "missing": []},
    }
    message = missing_message(reports, "the Ray cluster at auto")
    assert message.startswith("Nothing was submitted: 2 of 3 node(s) of the Ray cluster at auto")
    assert "on node 10.0.0.3: checkpoint folder /data/ckpt" in message
    assert "on node 10.0.0.4: embedxfer 0.1.0 (the node has 0.0.9)" in message
    assert missing_message({"10.0.0.2": reports["10.0.0.2"]}, "x") is None


def test_settings_are_validated_and_read_from_the_environment():
    assert RaySettings(gpus_per_trial=0.25).gpus_per_trial == 0.25
    for bad in ({"gpus_per_trial": 1.5}, {"cpus_per_trial": 0}, {"retries": -1}, {"gpus_per_trial": -1}):
        with pytest.raises(ConfigError):
            RaySettings(**bad)
    env = {"EMBEDXFER_RAY_ADDRESS": "ray://head:10001", "EMBEDXFER_RAY_GPUS_PER_TRIAL": "0.5"}
    settings = RaySettings.from_env(env, retries=1)
    assert (settings.address, settings.gpus_per_trial, settings.retries, settings.local) == (
        "ray://head:10001",
        0.5,
        1,
        False,
    )
    with pytest.raises(ConfigError, match="must be a number"):
        RaySettings.from_env({"EMBEDXFER_RAY_CPUS_PER_TRIAL": "two"})
    assert configured_backend("RAY") == "ray"
    with pytest.raises(ConfigError, match="not one of thread, ray"):
        configured_backend("dask")


def test_sidebar_and_run_page_show_the_ray_backend(app_env, monkeypatch, tiny_checkpoints):
    from ui.common import PAGE_RUNS

    monkeypatch.setenv("EMBEDXFER_BACKEND", "ray")
    at = open_page(PAGE_RUNS)
    sidebar = "\n".join(str(c.value) for c in at.sidebar.caption)
    assert "Backend: Ray, a local Ray started here · 1 node(s), 2 CPUs, 0 GPUs · 1 CPU, 0 GPU per trial" in sidebar
    from ui import services

    store = services.store()
    experiment_id = services.job_manager().submit(ray_config(tiny_checkpoints["bert"], seeds=[0]))
    assert wait_finished(store, experiment_id) == "completed"
    at = open_page(PAGE_RUNS, experiment=experiment_id)
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    # the trial table (drawn while some trial has not completed) says which backend ran each trial
    from ui.experiment_view import _progress_frame

    progress = services.job_manager().progress(experiment_id)
    assert list(_progress_frame(progress)["backend"]) == ["ray", "ray"]
    threaded = {tid: {**p, "backend": "thread"} for tid, p in progress.items()}
    assert "backend" not in _progress_frame(threaded)  # a thread run's table looks as it always did


def test_without_ray_installed_the_ray_backend_says_how_to_install_it(monkeypatch, embedxfer_home):
    from embedxfer.backends import open_manager

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as it does where Ray is not installed
    with pytest.raises(EmbedxferError, match=r"needs the `ray` package.*make cluster"):
        open_manager(backend="ray")
    with open_manager(backend="thread", workers={"cpu": 1}) as manager:  # the thread backend never needs it
        assert manager.describe() == {"backend": "thread"}
