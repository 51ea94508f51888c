"""The Ray backend through the CLI: options, Ctrl-C, and a driver killed outright then resumed. Each command
starts its own local Ray, so this module starts none in-process (two local Rays on one machine share its
CPUs without knowing of each other)."""

from __future__ import annotations

import os
import signal
import sys
import time

import yaml
from gate import Gate, plugin_env
from process_support import cli, end, start

from embedxfer.store import Store


def test_cli_ray_options_need_the_ray_backend(embedxfer_home):
    with cli("run", "preset:finetune-quick", "--gpus-per-trial", "0.25") as run:
        _, err = run.communicate(timeout=120)
    assert "--gpus-per-trial only apply to the Ray backend; add --backend ray." in err


def test_ctrl_c_cancels_a_cli_ray_run_and_a_dead_driver_leaves_it_resumable(embedxfer_home, tmp_path):
    """Each trial that is mid-run when the test acts waits at a gate (tests/gated_kind.py) until then; the CLI's
    local Ray gets the `gated` kind from EMBEDXFER_PLUGINS in the CLI's environment."""
    store = Store()
    first, second = Gate(tmp_path / "first"), Gate(tmp_path / "second")
    path = tmp_path / "held.yaml"
    path.write_text(yaml.safe_dump(first.config(steps=4, hold_at=2)))
    with cli("run", str(path), "--backend", "ray", "--json", env=plugin_env()) as run:
        experiment_id = _wait_for_running_trial(store, first)
        os.killpg(run.pid, signal.SIGINT)  # Ctrl-C reaches the terminal's whole process group
        _, err = run.communicate(timeout=120)
    assert run.returncode == 130, err
    assert f"cancelled experiment {experiment_id}" in err
    assert {t["status"] for t in store.list_trials(experiment_id)} == {"cancelled"}

    # the driver killed outright: its trial stays `running` with the dead pid until a manager looks
    path.write_text(yaml.safe_dump(second.config(seeds=[0, 1], free_seeds=[0], steps=4, hold_at=2)))
    args = ("run", str(path), "--backend", "ray", "--cpus-per-trial", "2", "--json")
    with cli(*args, env=plugin_env()) as run:
        later = _wait_for_running_trial(store, second, after=experiment_id, completed=1)
        os.killpg(run.pid, signal.SIGKILL)
    before = {t["trial_id"]: t for t in store.list_trials(later)}
    second.open()
    with cli("resume", later, "--backend", "ray", "--json", env=plugin_env()) as resumed:
        _, err = resumed.communicate(timeout=600)
    after = {t["trial_id"]: t for t in store.list_trials(later)}
    assert {t["status"] for t in after.values()} == {"completed"}, err
    done_first = [tid for tid, t in before.items() if t["status"] == "completed"]
    assert len(done_first) == 1 and after[done_first[0]]["finished_at"] == before[done_first[0]]["finished_at"]
    assert any("interrupted" in e["message"] for e in store.events(later))


def _wait_for_running_trial(store: Store, gate: Gate, *, after: str | None = None, completed: int = 0) -> str:
    """The newest experiment (not `after`) once a trial waits at `gate`, is stored `running` with a step, and
    `completed` others are done (the timeout only guards against a hang)."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        experiments = [e for e in store.list_experiments() if e["experiment_id"] != after]
        if experiments and gate.waiting():
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
    process = start([sys.executable, "-c", code])
    try:
        out, err = process.communicate(timeout=180)
    finally:
        end(process)
    assert "answer 42" in out, err[-2000:]
