"""module_porting's claims: Sabry & Belz 2024's findings, each checked on this run's own trials (the verdict rules:
experiments/claims.py). The paper's per-condition numbers were not verified, so none are given."""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedxfer.experiments.claims import by_seed, directional, not_tested, paired, row_interval
from embedxfer.experiments.module_porting.figures import paired_rows
from embedxfer.experiments.outputs import ClaimResult, ClaimSpec

if TYPE_CHECKING:
    from embedxfer.experiments.outputs import ExperimentData

SOURCE = "Sabry & Belz 2024 (arXiv 2401.14228)"


def _beats(data: ExperimentData, other: str) -> list[ClaimResult]:
    if other not in (data.result["config"].get("conditions") or []):
        return not_tested(f"add `{other}` to conditions")
    frame = paired_rows(data)
    if frame.empty:
        return not_tested(f"wait for ported and {other} trials to complete")
    chosen = frame[(frame["comparison"] == f"ported − {other}") & frame["measure"].str.startswith("test_")]
    return [
        directional(row_interval(r), scope=f"{r.technique}, {r.pair}, {r.measure}", detail=f"ported minus {other}")
        for r in chosen.itertuples()
        if "macro_f1" not in r.measure  # one score per setting: the task's metric
    ] or not_tested(f"wait for ported and {other} trials to complete")


def ported_beats_scratch(data: ExperimentData) -> list[ClaimResult]:
    return _beats(data, "scratch")


def ported_beats_sampled(data: ExperimentData) -> list[ClaimResult]:
    return _beats(data, "sampled")


def adapters_port_better(data: ExperimentData) -> list[ClaimResult]:
    techniques = set(data.result["config"].get("techniques") or []) | {data.result["config"].get("technique")}
    if not {"seq_bn", "prefix_tuning"} <= techniques:
        return not_tested("add seq_bn and prefix_tuning to techniques")
    frame = data.completed()
    column = f"zero_shot_{data.primary_metric}"
    if frame.empty or column not in frame:
        return not_tested("wait for ported trials of both techniques to complete")
    ported = frame[frame["condition"] == "ported"].assign(pair=lambda f: f["origin"] + " → " + f["receiver"])
    results = []
    for pair, part in ported.groupby("pair", sort=False):
        adapters = by_seed(part[part["technique"] == "seq_bn"], column)
        prefixes = by_seed(part[part["technique"] == "prefix_tuning"], column)
        if adapters and prefixes:
            detail = "ported seq_bn minus ported prefix_tuning, zero-shot, paired by seed"
            results.append(directional(paired(adapters, prefixes), scope=pair, detail=detail))
    return results or not_tested("wait for ported trials of both techniques to complete")


CLAIMS = (
    ClaimSpec(
        "ported_beats_scratch",
        "A ported module beats the same module trained from scratch on the receiving host.",
        f"{SOURCE}, results",
        "ported minus scratch on the test metric, at zero-shot and after the receiving steps, paired by seed, per "
        "technique and host pair; supported when the 95% interval lies above 0, contradicted when below.",
        ported_beats_scratch,
    ),
    ClaimSpec(
        "ported_beats_sampled",
        "A ported module beats a module sampled from the ported module's own distribution.",
        f"{SOURCE}, results",
        "ported minus sampled, as for scratch; supported when the 95% interval lies above 0, contradicted when below.",
        ported_beats_sampled,
    ),
    ClaimSpec(
        "adapters_port_better",
        "Bottleneck adapters port better than prefix tuning.",
        f"{SOURCE}, results (adapters the most portable)",
        "ported seq_bn minus ported prefix_tuning on the zero-shot test metric, paired by seed, per host pair; "
        "supported when the 95% interval lies above 0, contradicted when below.",
        adapters_port_better,
    ),
)
