"""Do the learned estimates predict how long a run takes? Three presets, each run twice in a fresh home.

For each preset: `embedxfer plan --json` gives the estimate, then `embedxfer run --json` runs it. The first run
finds nothing measured (cold: the kind's rough formula); the second run uses one new seed, so no trial is reused,
and is estimated from the first run's measured trials (warm). The script prints estimate / actual for both.

"Actual" is the trials' wall time: from the first trial's start to the last trial's end, read from the store; this
is what an estimate predicts (the plan's time for its trials). The process wall time, which adds Python start-up,
imports and planning (seconds), is printed beside it. Target: warm estimates within +-30% of actual.

The home is fresh (an empty store: nothing measured, nothing to reuse); the feature and checkpoint cache is the
usual one (EMBEDXFER_CACHE), so a first run that encodes features can be slower than the second.

Usage: python bench/estimates.py [--presets probing-quick layer_similarity-quick stitching-quick] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cli_runs import fresh_home, run_cli  # noqa: E402

from embedxfer.store import Store  # noqa: E402

DEFAULT_PRESETS = ("probing-quick", "layer_similarity-quick", "stitching-quick")
WARM_SEEDS = "seeds=[3]"
TARGET = 0.30


def _trial_wall(home: Path, experiment_id: str) -> float:
    trials = Store(home).list_trials(experiment_id)
    return max(t["finished_at"] for t in trials) - min(t["started_at"] for t in trials)


def measure(preset: str, env: dict[str, str], home: Path) -> list[dict]:
    rows = []
    for phase, extra in (("cold", []), ("warm", ["--set", WARM_SEEDS])):
        planned, _ = run_cli(["plan", f"preset:{preset}", *extra, "--json"], env)
        result, process_seconds = run_cli(["run", f"preset:{preset}", *extra, "--json"], env)
        actual = _trial_wall(home, result["experiment_id"])
        estimate = planned["estimate_seconds"]
        rows.append(
            {
                "preset": preset,
                "phase": phase,
                "trials": planned["n_trials"],
                "reused": planned["reused"],
                "source": planned["estimate_source"],
                "estimate_s": estimate,
                "actual_s": actual,
                "process_s": process_seconds,
                "ratio": None if estimate is None else estimate / actual,
            }
        )
        print(_line(rows[-1]), flush=True)
    return rows


def _line(row: dict) -> str:
    ratio = "?" if row["ratio"] is None else f"{row['ratio']:.2f}"
    estimate = "?" if row["estimate_s"] is None else f"{row['estimate_s']:.0f}"
    return (
        f"{row['preset']:<24} {row['phase']:<5} {row['trials']:>3} trials  estimate {estimate:>5} s  "
        f"actual {row['actual_s']:6.1f} s (process {row['process_s']:6.1f} s)  estimate/actual {ratio:>5}  "
        f"[{row['source']}]"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=list(DEFAULT_PRESETS))
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    home, env = fresh_home("embedxfer-bench-estimates-")
    rows = [row for preset in args.presets for row in measure(preset, env, home)]
    warm = [r for r in rows if r["phase"] == "warm" and r["ratio"] is not None]
    within = [r for r in warm if abs(r["ratio"] - 1) <= TARGET]
    print(f"\nwarm estimates within +-{TARGET:.0%} of actual: {len(within)} of {len(warm)}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
