"""embedding_transfer's claims: the embedding-transfer thread's findings and its null control, each checked on this
run's own trials (the verdict rules: experiments/claims.py). The thread gives no numbers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedxfer.experiments.claims import directional, not_tested, null_control, row_interval
from embedxfer.experiments.embedding_transfer.figures import paired_rows
from embedxfer.experiments.outputs import ClaimResult, ClaimSpec

if TYPE_CHECKING:
    from embedxfer.experiments.outputs import ExperimentData

THREAD = 'r/MachineLearning "[R] Transferring Pretrained Embeddings" (2025)'


def _against(data: ExperimentData, baseline: str, metric: str | None = None):
    frame = paired_rows(data, metric)
    return frame[frame["baseline"] == baseline] if not frame.empty else frame


def _baselines(data: ExperimentData) -> list[str]:
    return list(data.result["config"].get("baselines") or [])


def source_beats_random(data: ExperimentData) -> list[ClaimResult]:
    if "random-matched" not in _baselines(data):
        return not_tested("add `random-matched` to baselines")
    return [
        directional(row_interval(r), scope=f"{r.source} -> {r.target}", detail="source minus random-matched, paired")
        for r in _against(data, "random-matched").itertuples()
    ] or not_tested("wait for the source and random-matched trials to complete")


def rotated_is_null(data: ExperimentData) -> list[ClaimResult]:
    if "rotated" not in _baselines(data):
        return not_tested("add `rotated` to baselines")
    return [
        null_control(row_interval(r), scope=f"{r.source} -> {r.target}", detail="source minus rotated, paired")
        for r in _against(data, "rotated").itertuples()
    ] or not_tested("wait for the source and rotated trials to complete")


def random_fits_but_generalizes_worse(data: ExperimentData) -> list[ClaimResult]:
    if "random-matched" not in _baselines(data):
        return not_tested("add `random-matched` to baselines")
    if not data.result["config"].get("ood_tasks"):
        return not_tested("add ood_tasks (e.g. [word-valence-binary])")
    metric = data.primary_metric.removeprefix("test_")
    frame = data.completed()
    ood = sorted(c for c in frame.columns if c.startswith("ood_") and c.endswith(f"_{metric}"))
    fit = f"fit_{metric}"
    if fit not in frame or not ood:
        return not_tested("wait for trials with training-fit and OOD scores to complete")
    fits = {(r.source, r.target): r for r in _against(data, "random-matched", fit).itertuples()}
    results = []
    for column in ood:
        for r in _against(data, "random-matched", column).itertuples():
            if (r.source, r.target) not in fits:
                continue
            fitted = directional(row_interval(fits[(r.source, r.target)]), above=False)  # random fits better: < 0
            general = directional(row_interval(r))  # the source generalizes better: > 0
            verdicts = {fitted.verdict, general.verdict}
            verdict = (
                "supported"
                if verdicts == {"supported"}
                else "contradicted"
                if "contradicted" in verdicts
                else "inconclusive"
            )
            task = column.removeprefix("ood_").removesuffix(f"_{metric}")
            detail = (
                f"source minus random-matched: on its training fit {fitted.value:+.3f} ({fitted.verdict} below 0), "
                f"on OOD {task} (the value shown) ({general.verdict} above 0)"
            )
            scope = f"{r.source} -> {r.target}"
            results.append(ClaimResult(verdict, scope, r.mean, general.low, general.high, int(r.n), detail))
    return results or not_tested("wait for trials with training-fit and OOD scores to complete")


CLAIMS = (
    ClaimSpec(
        "source_beats_random",
        "A pretrained token table beats a random one of the same width and vocabulary under the same scorer.",
        THREAD,
        "source minus random-matched (Gaussian with the source's per-dimension mean and std) on the test metric, "
        "paired by seed, per source and target; supported when the 95% interval lies above 0, contradicted below.",
        source_beats_random,
    ),
    ClaimSpec(
        "rotated_is_null",
        "A random orthogonal rotation of the table changes nothing (a null control).",
        "Kocmi & Bojar 2017 (arXiv 1711.09160), as a control the thread asked for",
        "source minus rotated, paired by seed; supported when the 95% interval covers 0, contradicted when it "
        "excludes 0.",
        rotated_is_null,
    ),
    ClaimSpec(
        "random_fits_but_generalizes_worse",
        "Random embeddings fit the training set best but generalize worst out of distribution.",
        f"{THREAD}, the follow-up post on reward models",
        "source minus random-matched, paired by seed, twice: on the training examples' fit (must lie below 0) and on "
        "each OOD task (must lie above 0); supported when both hold, contradicted when either lies wholly on the "
        "other side, else inconclusive.",
        random_fits_but_generalizes_worse,
    ),
)
