"""layer_reinit's claims: Tamkin et al. 2020's findings, each checked on this run's own trials (the verdict rules:
experiments/claims.py). The paper shows curves only, so no published numbers are given."""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedxfer.experiments.claims import by_seed, differs, directional, not_tested, paired
from embedxfer.experiments.layer_reinit.figures import num_layers, probe_frame, reinit_frame, size_name
from embedxfer.experiments.outputs import ClaimResult, ClaimSpec

if TYPE_CHECKING:
    from embedxfer.experiments.outputs import ExperimentData

SOURCE = "Tamkin et al. 2020 (arXiv 2004.14975), progressive reinitialization and probing figures"
_PROGRESSIVE = "use scheme: progressive (it runs keep:0 .. keep:L)"


def _gaps(data: ExperimentData) -> dict[float, dict[int, float]] | None:
    """{train size: {seed: keep:0 minus keep:L}}, or None when the run lacks keep:0 or keep:L."""
    frame, layers = reinit_frame(data), num_layers(data)
    if frame.empty or layers is None:
        return None
    metric, gaps = data.primary_metric, {}
    for size, part in frame.groupby("size", sort=True):
        none, full = part[part["condition"] == "keep:0"], part[part["condition"] == f"keep:{layers}"]
        if none.empty or full.empty:
            return None
        first, last = by_seed(none, metric), by_seed(full, metric)
        gaps[size] = {seed: first[seed] - last[seed] for seed in first.keys() & last.keys()}
    return gaps


def reinit_all_costs(data: ExperimentData) -> list[ClaimResult]:
    from embedxfer.stats import mean_interval

    gaps = _gaps(data)
    if gaps is None:
        return not_tested(_PROGRESSIVE)
    layers = num_layers(data)
    return [
        directional(
            mean_interval(gap.values()),  # the per-seed gaps are already paired differences
            above=False,
            scope=size_name(size),
            detail=f"keep:0 minus keep:{layers}, paired by seed",
        )
        for size, gap in gaps.items()
    ]


def cost_depends_on_size(data: ExperimentData) -> list[ClaimResult]:
    gaps = _gaps(data)
    if gaps is None:
        return not_tested(_PROGRESSIVE)
    if len(gaps) < 2:
        return not_tested("add a second size to train_sizes (e.g. [200, 2000])")
    small, large = min(gaps), max(gaps)
    return [
        differs(
            paired(gaps[small], gaps[large]),
            scope=f"{size_name(small)} vs {size_name(large)}",
            detail="(keep:0 - keep:L) at the smallest size minus the same at the largest, paired by seed",
        )
    ]


def _clear_leader(values: dict[int, dict[int, float]]) -> tuple[int, bool, str]:
    """Of {candidate: {seed: value}}: the candidate with the highest mean, whether it leads the runner-up by a
    paired 95% interval above 0 (an argmax of means alone flips with one more seed), and the lead in words."""
    means = {c: sum(v.values()) / len(v) for c, v in values.items() if v}
    ranked = sorted(means, key=means.get, reverse=True)
    leader = ranked[0]
    if len(ranked) < 2:
        return leader, True, "no runner-up"
    lead = paired(values[leader], values[ranked[1]])
    if not lead.has_interval:  # one seed: a lead, no interval
        return leader, False, f"leads {ranked[1]} by {lead.mean:+.3f}, n=1"
    clear = lead.ci_low > 0
    return leader, clear, f"leads {ranked[1]} by {lead.mean:+.3f} [{lead.ci_low:+.3f}, {lead.ci_high:+.3f}]"


def probing_is_not_reinit(data: ExperimentData) -> list[ClaimResult]:
    frame, probes, layers = reinit_frame(data), probe_frame(data), num_layers(data)
    if probes.empty:
        return not_tested("set probe: true (it probes every layer beside the reinit curve)")
    if frame.empty or layers is None or frame[frame["condition"].str.startswith("keep:")].empty:
        return not_tested(_PROGRESSIVE)
    metric, results = data.primary_metric, []
    for size, part in frame[frame["condition"].str.startswith("keep:")].groupby("size", sort=True):
        kept = {int(k): by_seed(rows, metric) for k, rows in part.groupby("kept")}
        sized = probes[probes["size"] == size]
        probed = {int(layer): by_seed(rows, metric) for layer, rows in sized.groupby("layer")}
        if len(kept) < 2 or not probed:
            continue
        # removing block k (keep:k+1 -> keep:k) costs kept[k+1] - kept[k], seed by seed; block k outputs hidden
        # state k+1
        costs = {
            k + 1: {seed: kept[k + 1][seed] - kept[k][seed] for seed in kept[k + 1].keys() & kept[k].keys()}
            for k in range(layers)
            if k in kept and k + 1 in kept
        }
        costliest, cost_clear, cost_lead = _clear_leader(costs)
        best_probe, probe_clear, probe_lead = _clear_leader(probed)
        seeds = min(min(len(v) for v in kept.values()), min(len(v) for v in probed.values()))
        if seeds < 2 or not (cost_clear and probe_clear):
            verdict = "inconclusive"
        else:
            verdict = "supported" if best_probe != costliest else "contradicted"
        cost = sum(costs[costliest].values()) / len(costs[costliest])
        detail = (
            f"best-probing hidden state {best_probe} ({probe_lead}); the costliest block to reinitialize outputs "
            f"hidden state {costliest} (mean {cost:+.3f}; {cost_lead})"
        )
        results.append(ClaimResult(verdict, size_name(size), n=int(seeds), detail=detail))
    return results or not_tested(_PROGRESSIVE)


CLAIMS = (
    ClaimSpec(
        "reinit_all_costs",
        "Reinitializing every block costs accuracy: keep:0 scores below keep:L.",
        SOURCE,
        "keep:0 minus keep:L on the test metric, paired by seed, per train size; supported when the 95% interval "
        "lies below 0, contradicted when above.",
        reinit_all_costs,
    ),
    ClaimSpec(
        "cost_depends_on_size",
        "The benefit of pretrained weights depends on the finetuning data size.",
        SOURCE,
        "(keep:0 - keep:L) at the smallest train size minus the same at the largest, paired by seed; supported when "
        "the 95% interval excludes 0 (an interval covering 0 cannot show the two are equal: inconclusive).",
        cost_depends_on_size,
    ),
    ClaimSpec(
        "probing_is_not_reinit",
        "Well-probing layers are neither necessary nor sufficient: the best-probing layer is not the one whose "
        "reinitialization costs most.",
        SOURCE,
        "per train size: b = the hidden state with the highest mean probe metric; c = the hidden state output by the "
        "block whose reinitialization (keep:k+1 -> keep:k) lowers the mean metric most; each counts only when it leads "
        "the runner-up by a paired 95% interval above 0 (an argmax of means flips with one more seed); supported "
        "when both lead clearly and b != c, contradicted when both lead clearly and b = c; otherwise (or with "
        "fewer than 2 seeds) inconclusive.",
        probing_is_not_reinit,
    ),
)
