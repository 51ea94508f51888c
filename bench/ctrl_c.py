"""Ctrl-C on a real run: `embedxfer run preset:finetune-quick` gets SIGINT at several moments after launch.

For each delay the run is started as a terminal would start it (SIGINT at its default, whatever this script
inherited), SIGINT goes out after the delay, and the script measures how long the CLI takes to exit and with
which code (target: 130 within 5 s). When an experiment was stored before the signal, `embedxfer resume ID`
runs next and must complete it. Each run gets its own EMBEDXFER_HOME, so nothing else is touched.

Usage: python bench/ctrl_c.py [--delays 1 5 60] [--preset finetune-quick] [--set FIELD=VALUE ...] [--json OUT]
(--set makes the run longer, e.g. epochs=12, so that a late signal still lands mid-run.)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embedxfer.store import Store  # noqa: E402


def _cli(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "embedxfer", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal: a background shell hands its children an ignored SIGINT, which would drop ours
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def one_delay(delay: float, preset: str, overrides: list[str]) -> dict:
    home = Path(tempfile.mkdtemp(prefix=f"embedxfer-ctrl-c-{delay:g}s-"))
    env = {**os.environ, "EMBEDXFER_HOME": str(home)}
    run = _cli(["run", f"preset:{preset}", *[a for item in overrides for a in ("--set", item)]], env)
    try:
        time.sleep(delay)
        running_at_signal = run.poll() is None
        sent = time.monotonic()
        run.send_signal(signal.SIGINT)
        _, err = run.communicate(timeout=120)
        exit_seconds = time.monotonic() - sent
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    row = {
        "delay_s": delay,
        "overrides": overrides,
        "running_at_signal": running_at_signal,
        "exit_code": run.returncode,
        "exit_s": round(exit_seconds, 2),
        "message": err.strip().splitlines()[-1] if err.strip() else "",
    }
    experiments = Store(home).list_experiments()
    if not experiments:
        row["resume"] = "no experiment was stored before the signal: nothing to resume"
        return row
    experiment_id = experiments[0]["experiment_id"]
    before = [t["status"] for t in Store(home).list_trials(experiment_id)]
    started = time.monotonic()
    resume = _cli(["resume", experiment_id], env)
    try:
        _, err = resume.communicate(timeout=1800)
    finally:
        if resume.poll() is None:
            resume.kill()
            resume.wait()
    row.update(
        experiment=experiment_id,
        statuses_after_signal=before,
        resume_exit_code=resume.returncode,
        resume_s=round(time.monotonic() - started, 1),
        final_status=Store(home).get_experiment(experiment_id)["status"],
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delays", type=float, nargs="+", default=[1.0, 5.0, 60.0])
    parser.add_argument("--preset", default="finetune-quick")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="FIELD=VALUE for the preset")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    rows = []
    for delay in args.delays:
        row = one_delay(delay, args.preset, args.overrides)
        rows.append(row)
        print(json.dumps(row), flush=True)
    ok = all(r["exit_code"] == 130 and r["exit_s"] <= 5 for r in rows) and all(
        r.get("final_status", "completed") == "completed" for r in rows
    )
    print(f"target (exit 130 within 5 s, resume completes): {'met' if ok else 'NOT met'}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
