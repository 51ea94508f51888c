"""The Ray backend through the CLI: options, Ctrl-C, and a driver killed outright then resumed. Each command
starts its own local Ray, so this module starts none in-process (two local Rays on one machine share its
CPUs without knowing of each other)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import yaml
from ray_support import long_config, ray_config

from embedxfer.store import Store


def _cli(*args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "embedxfer", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        **kwargs,
    )


def test_cli_ray_options_need_the_ray_backend(embedxfer_home, tmp_path, tiny_checkpoints):
    result = _cli("run", "preset:finetune-quick", "--gpus-per-trial", "0.25").communicate(timeout=120)
    assert "--gpus-per-trial only apply to the Ray backend; add --backend ray." in result[1]


def test_ctrl_c_cancels_a_cli_ray_run_and_a_dead_driver_leaves_it_resumable(embedxfer_home, tmp_path, tiny_checkpoints):
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump(long_config(tiny_checkpoints["bert"])))
    run = _cli("run", str(path), "--backend", "ray", "--json", start_new_session=True)
    store = Store()
    experiment_id = _wait_for_running_trial(store)
    os.killpg(run.pid, signal.SIGINT)  # Ctrl-C reaches the terminal's whole process group
    _, err = run.communicate(timeout=120)
    assert run.returncode == 130, err
    assert f"cancelled experiment {experiment_id}" in err
    assert {t["status"] for t in store.list_trials(experiment_id)} == {"cancelled"}

    # the driver killed outright: its trial stays `running` with the dead pid until a manager looks
    config = ray_config(
        tiny_checkpoints["bert"], seeds=[0, 1], freeze_variants=[], train_size=1000, epochs=2, batch_size=8
    )
    path.write_text(yaml.safe_dump(config))
    run = _cli("run", str(path), "--backend", "ray", "--cpus-per-trial", "2", "--json", start_new_session=True)
    second = _wait_for_running_trial(store, after=experiment_id, completed=1)
    os.killpg(run.pid, signal.SIGKILL)
    run.communicate(timeout=60)
    before = {t["trial_id"]: t for t in store.list_trials(second)}
    resumed = _cli("resume", second, "--backend", "ray", "--json").communicate(timeout=600)
    after = {t["trial_id"]: t for t in store.list_trials(second)}
    assert {t["status"] for t in after.values()} == {"completed"}, resumed[1]
    done_first = [tid for tid, t in before.items() if t["status"] == "completed"]
    assert len(done_first) == 1 and after[done_first[0]]["finished_at"] == before[done_first[0]]["finished_at"]
    assert any("interrupted" in e["message"] for e in store.events(second))


def _wait_for_running_trial(store: Store, *, after: str | None = None, completed: int = 0) -> str:
    """The newest experiment (not `after`) once it has a running trial with a step and `completed` trials done."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        experiments = [e for e in store.list_experiments() if e["experiment_id"] != after]
        if experiments:
            experiment_id = experiments[0]["experiment_id"]
            trials = store.list_trials(experiment_id)
            statuses = [t["status"] for t in trials]
            if statuses.count("completed") >= completed and any(
                t["status"] == "running" and t["step"] > 0 for t in trials
            ):
                return experiment_id
        time.sleep(0.2)
    raise AssertionError("the CLI run did not start a trial")


def test_ray_started_from_a_short_lived_thread_outlives_it():
    """A dashboard starts its job manager on a script thread that ends after the rerun; Ray must keep running."""
    code = (
        "import threading, time, ray\n"
        "from embedxfer.ray_backend.cluster import connect\n"
        "from embedxfer.ray_backend.settings import RaySettings\n"
        "held = []\n"
        "thread = threading.Thread(target=lambda: held.append(connect(RaySettings(local_cpus=1))))\n"
        "thread.start(); thread.join()\n"
        "time.sleep(3)  # what killed Ray's processes took effect at once when the starting thread ended\n"
        "print('answer', ray.get(ray.remote(lambda: 42).remote(), timeout=60))\n"
        "held[0]()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert "answer 42" in result.stdout, result.stderr[-2000:]
