"""frozen_transformer's claims: Lu et al. 2021 (FPT) and Rothermel et al. 2021, each checked on this run's own
trials (the verdict rules: experiments/claims.py). Published values are GPT-2 base at the paper's task sizes; a
small run's tasks differ (bit counts, training steps), as each row's scope and the published text say."""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedxfer.experiments.claims import directional, not_tested, null_control, row_interval
from embedxfer.experiments.frozen_transformer.figures import PUBLISHED, REFERENCE, chosen_trials, paired_rows
from embedxfer.experiments.outputs import ClaimResult, ClaimSpec

if TYPE_CHECKING:
    from embedxfer.experiments.outputs import ExperimentData

FPT = "Lu et al. 2021 (arXiv 2103.05247)"


def _rows(data: ExperimentData, comparison: str):
    frame = paired_rows(data)
    return frame[frame["comparison"] == comparison] if not frame.empty else frame


def _conditions(data: ExperimentData) -> list[str]:
    return list(data.result["config"].get("conditions") or [])


def pretrained_beats_random(data: ExperimentData) -> list[ClaimResult]:
    if "random" not in _conditions(data) or REFERENCE not in _conditions(data):
        return not_tested("add `pretrained` and `random` to conditions")
    return [
        directional(row_interval(r), scope=r.task, detail="pretrained minus random, test metric, paired by seed")
        for r in _rows(data, f"{REFERENCE} − random").itertuples()
    ] or not_tested("wait for pretrained and random trials to complete")


def _task_value(data: ExperimentData, task: str, condition: str):
    """The mean and interval over seeds of `condition`'s test metric on the run's task named `task` (options such
    as `?n_bits=` allowed), or None when the run has no such task or condition."""
    from embedxfer.stats import mean_interval

    frame = chosen_trials(data)
    if frame.empty:
        return None
    part = frame[(frame["task"].str.split("?").str[0] == task) & (frame["condition"] == condition)]
    return None if part.empty else (part["task"].iloc[0], mean_interval(part[data.primary_metric]))


def xor_solved(data: ExperimentData) -> list[ClaimResult]:
    found = _task_value(data, "bit-xor", REFERENCE)
    if found is None:
        return not_tested("add bit-xor to tasks and `pretrained` to conditions")
    task, interval = found
    return [directional(interval, threshold=0.99, scope=task, detail="pretrained test accuracy against 0.99")]


def random_memory_near_published(data: ExperimentData) -> list[ClaimResult]:
    found = _task_value(data, "bit-memory", "random")
    if found is None:
        return not_tested("add bit-memory to tasks and `random` to conditions")
    task, interval = found
    published = PUBLISHED["bit-memory"]["random"]
    detail = f"random test accuracy against {published}"
    return [null_control(interval, threshold=published, scope=task, detail=detail)]


def pretrained_converges_faster(data: ExperimentData) -> list[ClaimResult]:
    if data.result["config"].get("threshold") is None:
        return not_tested("set threshold (e.g. 0.9): steps to threshold are not measured without it")
    rows = _rows(data, "random ÷ pretrained")
    if rows.empty:
        return not_tested("add `pretrained` and `random` to conditions")
    return [
        directional(row_interval(r), threshold=1.0, scope=r.task, detail="random's steps to threshold ÷ pretrained's")
        for r in rows.itertuples()
    ]


def full_training_with_a_sweep(data: ExperimentData) -> list[ClaimResult]:
    if len(data.result["config"].get("lrs") or []) < 2:
        return not_tested("add an lr sweep, e.g. lrs: [1e-4, 3e-4, 1e-3]")
    if "scratch-full" not in _conditions(data):
        return not_tested("add `scratch-full` to conditions")
    return [
        directional(
            row_interval(r), above=False, scope=r.task, detail="pretrained minus scratch-full, each at its best lr"
        )
        for r in _rows(data, f"{REFERENCE} − scratch-full").itertuples()
    ]


def ladder_rungs_help(data: ExperimentData) -> list[ClaimResult]:
    if not data.result["config"].get("ladder"):
        return not_tested("set ladder: true")
    frame = paired_rows(data)
    rungs = frame[frame["comparison"].str.startswith("ladder:")] if not frame.empty else frame
    return [
        directional(row_interval(r), scope=f"{r.task}: {r.comparison.removeprefix('ladder: ')}", detail=r.measure)
        for r in rungs.itertuples()
    ] or not_tested("wait for the ladder's trials to complete")


CLAIMS = (
    ClaimSpec(
        "pretrained_beats_random",
        "A frozen pretrained transformer beats the same architecture frozen at random initialisation.",
        f"{FPT}, Table 1; Rothermel et al. 2021 (arXiv 2107.12460) with an lr sweep",
        "pretrained minus random on the test metric, paired by seed, per task; supported when the 95% interval lies "
        "above 0, contradicted when below.",
        pretrained_beats_random,
        published="Memory 100 vs 75.8, XOR 100 vs 100, ListOps 38.4 vs 34.3 (GPT-2 base)",
    ),
    ClaimSpec(
        "xor_solved",
        "FPT solves bit XOR (at least 99% test accuracy).",
        f"{FPT}, Table 1",
        "pretrained's test accuracy on bit-xor, mean and 95% interval over seeds; supported when the interval lies "
        "above 0.99, contradicted when below.",
        xor_solved,
        published="100% (GPT-2 base, two 5-bit strings)",
    ),
    ClaimSpec(
        "random_memory_near_published",
        "A frozen random transformer stays near 75% on bit memory.",
        f"{FPT}, Table 1",
        "random's test accuracy on bit-memory; a null-style check: supported when its 95% interval covers 0.758, "
        "contradicted when it excludes it.",
        random_memory_near_published,
        published="75.8% (GPT-2 base, 5 patterns of 1000 bits; smaller bit counts here change the task)",
    ),
    ClaimSpec(
        "pretrained_converges_faster",
        "Pretrained reaches the threshold in fewer steps than random.",
        f"{FPT}, section 3 (compute efficiency)",
        "random's steps to threshold divided by pretrained's, 95% interval over seeds; supported when it lies above "
        "1, contradicted when below (a random seed that never reaches it counts at the step budget: a lower bound).",
        pretrained_converges_faster,
        published="about 40x on XOR, 4x on Memory (GPT-2 base)",
    ),
    ClaimSpec(
        "full_training_with_a_sweep",
        "With a learning-rate sweep, a fully trained transformer matches or beats FPT.",
        "Rothermel et al. 2021 (arXiv 2107.12460)",
        "pretrained minus scratch-full, each at its best lr, paired by seed; supported when the interval lies below "
        "0 (full training wins), contradicted when above; an interval covering 0 cannot show a match: inconclusive.",
        full_training_with_a_sweep,
        published="ListOps: fully trained models win once lrs are swept (frozen pretrained 46.1 vs frozen random 38.9)",
    ),
    ClaimSpec(
        "ladder_rungs_help",
        "Each rung of the unfreezing ladder helps.",
        f"{FPT}, Table 5 (CIFAR-10 ladder)",
        "each rung minus the rung below on the test metric, paired by seed; supported when the interval lies above 0, "
        "contradicted when below.",
        ladder_rungs_help,
        published="CIFAR-10: output only 25 -> +layernorm 54 -> +input 60 -> +positions 68 (GPT-2 base)",
    ),
)
