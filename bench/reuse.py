"""What reuse saves: each quick preset run once, then again with one more seed (the what-if a user tries first).

Both runs go through the CLI (`embedxfer run preset:NAME --json`) in one fresh home, sharing the usual feature and
checkpoint cache. The second run adds one seed to the preset's seed list; every trial of the first run is reused
(copied), and only the new seed's trials run. For each preset the script prints the trials of each run, how many
were reused and how many ran, and the process wall time of each (the baseline: the first run, all trials run).
A preset whose trials take no seed (one reference seed) shows what adding one seed costs there.

Usage: python bench/reuse.py [--presets NAME ...] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cli_runs import fresh_home, run_cli  # noqa: E402

from embedxfer.experiments import list_presets, parse_config  # noqa: E402


def measure(name: str, seeds: list[int], env: dict[str, str]) -> dict:
    first, first_s = run_cli(["run", f"preset:{name}", "--json"], env)
    more = f"seeds={json.dumps([*seeds, max(seeds) + 1])}"
    second, second_s = run_cli(["run", f"preset:{name}", "--set", more, "--json"], env)
    reused = sum(1 for t in second["trials"] if t.get("reused_from"))
    row = {
        "preset": name,
        "first_trials": len(first["trials"]),
        "first_s": first_s,
        "second_trials": len(second["trials"]),
        "reused": reused,
        "ran": len(second["trials"]) - reused,
        "second_s": second_s,
        "statuses": sorted({t["status"] for t in first["trials"] + second["trials"]}),
    }
    print(
        f"{name:<28} first: {row['first_trials']:>3} trials {first_s:7.1f} s | + one seed: {row['second_trials']:>3} "
        f"trials, {reused:>3} reused, {row['ran']:>3} ran, {second_s:7.1f} s ({second_s / first_s:.2f}x the first)",
        flush=True,
    )
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", help="default: every `-quick` preset")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    presets = {p.name: p for p in list_presets()}
    names = args.presets or [name for name in presets if name.endswith("-quick")]
    home, env = fresh_home("embedxfer-bench-reuse-")
    rows = [measure(name, list(parse_config(presets[name].config).seeds), env) for name in names]
    first, second = sum(r["first_s"] for r in rows), sum(r["second_s"] for r in rows)
    print(f"\nall presets: first runs {first:.0f} s, with one more seed {second:.0f} s ({second / first:.2f}x)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
