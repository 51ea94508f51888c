"""What the CLI-driven benchmarks share: a fresh embedxfer home beside the usual cache, and timed CLI calls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embedxfer import paths  # noqa: E402


def fresh_home(prefix: str) -> tuple[Path, dict[str, str]]:
    """A new, empty EMBEDXFER_HOME (nothing measured, nothing to reuse) sharing this machine's feature and
    checkpoint cache, and the environment that selects it (default workers)."""
    home = Path(tempfile.mkdtemp(prefix=prefix))
    env = {**os.environ, "EMBEDXFER_HOME": str(home), "EMBEDXFER_CACHE": str(paths.cache_dir())}
    env.pop("EMBEDXFER_WORKERS", None)
    print(f"fresh home {home}; cache {env['EMBEDXFER_CACHE']}", flush=True)
    return home, env


def run_cli(args: list[str], env: dict[str, str]) -> tuple[dict, float]:
    """`embedxfer ARGS` (which must print JSON) in a child process: its JSON and the wall seconds it took."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "embedxfer", *args], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"embedxfer {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return json.loads(done.stdout), seconds
