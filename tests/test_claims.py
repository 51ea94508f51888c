"""Claims: the verdict rules on hand-made intervals and hand-made runs (all four verdicts, a null control, "not
tested" naming what to add), and the claims of a real stored run in `show`, `show --json` and the run page."""

from __future__ import annotations

import pandas as pd
import pytest

from embedxfer.experiments.claims import differs, directional, null_control
from embedxfer.experiments.outputs import ExperimentData
from embedxfer.stats import Interval


@pytest.mark.parametrize(
    ("interval", "above", "verdict"),
    [
        (Interval(0.05, 0.02, 0.08, 3), True, "supported"),
        (Interval(-0.05, -0.08, -0.02, 3), True, "contradicted"),
        (Interval(0.01, -0.02, 0.04, 3), True, "inconclusive"),
        (Interval(0.05, None, None, 1), True, "inconclusive"),  # one seed: no interval
        (Interval(-0.05, -0.08, -0.02, 3), False, "supported"),
        (Interval(0.05, 0.02, 0.08, 3), False, "contradicted"),
    ],
)
def test_a_directional_claim_reads_the_side_of_the_interval(interval, above, verdict):
    assert directional(interval, above=above).verdict == verdict


def test_a_threshold_moves_the_line():
    assert directional(Interval(0.995, 0.992, 0.998, 3), threshold=0.99).verdict == "supported"
    assert directional(Interval(0.98, 0.97, 0.99, 3), threshold=0.99).verdict == "inconclusive"
    assert directional(Interval(0.9, 0.85, 0.95, 3), threshold=0.99).verdict == "contradicted"


def test_a_null_control_is_supported_only_when_the_interval_covers_zero():
    assert null_control(Interval(0.001, -0.01, 0.012, 3)).verdict == "supported"
    assert null_control(Interval(0.05, 0.02, 0.08, 3)).verdict == "contradicted"
    assert null_control(Interval(-0.05, -0.08, -0.02, 3)).verdict == "contradicted"
    assert null_control(Interval(0.0, None, None, 1)).verdict == "inconclusive"


def test_a_difference_claim_cannot_be_contradicted_by_an_interval_covering_zero():
    assert differs(Interval(0.05, 0.02, 0.08, 3)).verdict == "supported"
    assert differs(Interval(-0.05, -0.08, -0.02, 3)).verdict == "supported"
    assert differs(Interval(0.0, -0.03, 0.03, 3)).verdict == "inconclusive"


def _reinit_run(values: dict[tuple[str, int | None], list[float]], probe: dict | None = None) -> ExperimentData:
    """A hand-made layer_reinit run: {(condition, train size): [metric per seed]} (and probe {(layer, size): [...]})."""
    rows = [
        {"condition": c, "seed": s, "status": "completed", "train_size": size, "test_accuracy": v}
        for (c, size), per_seed in values.items()
        for s, v in enumerate(per_seed)
    ]
    rows += [
        {"condition": "probe", "seed": s, "status": "completed", "train_size": size, "layer": layer, "test_accuracy": v}
        for (layer, size), per_seed in (probe or {}).items()
        for s, v in enumerate(per_seed)
    ]
    result = {"experiment_id": "hand-made", "kind": "layer_reinit", "config": {"train_sizes": [100, 1000]}}
    return ExperimentData(result, pd.DataFrame(rows), pd.DataFrame(), "test_accuracy")


def test_the_reinit_claims_on_hand_made_runs():
    from embedxfer.experiments.layer_reinit.claims import cost_depends_on_size, probing_is_not_reinit, reinit_all_costs

    costs = _reinit_run(
        {
            ("keep:0", 100): [0.60, 0.62, 0.61],
            ("keep:1", 100): [0.65, 0.66, 0.64],
            ("keep:2", 100): [0.80, 0.81, 0.79],
            ("keep:0", 1000): [0.78, 0.79, 0.77],
            ("keep:1", 1000): [0.79, 0.80, 0.78],
            ("keep:2", 1000): [0.80, 0.81, 0.79],
        },
        probe={(layer, size): [(0.70, 0.80, 0.75)[layer]] * 3 for layer in range(3) for size in (100, 1000)},
    )
    assert [r.verdict for r in reinit_all_costs(costs)] == ["supported", "supported"]
    assert [r.scope for r in reinit_all_costs(costs)] == ["100 examples", "1000 examples"]
    assert cost_depends_on_size(costs)[0].verdict == "supported"  # -0.19 at 100 vs -0.02 at 1000
    # at 100 examples block 1 costs most (0.15; it outputs hidden state 2) while the probe peaks at hidden state 1
    (at_100, _) = probing_is_not_reinit(costs)
    assert at_100.verdict == "supported" and "best-probing hidden state 1" in at_100.detail
    costs.trials.loc[(costs.trials["condition"] == "probe") & (costs.trials["layer"] == 2), "test_accuracy"] = 0.9
    assert probing_is_not_reinit(costs)[0].verdict == "contradicted"  # now the probe peaks where the cost does
    # an argmax of means is a finding only with a clear lead: a probe peak within seed noise is inconclusive
    close = costs.trials["condition"] == "probe"
    for layer, per_seed in ((1, [0.80, 0.70, 0.90]), (2, [0.78, 0.80, 0.79])):
        rows = close & (costs.trials["layer"] == layer) & (costs.trials["train_size"] == 100)
        costs.trials.loc[rows, "test_accuracy"] = per_seed
    (unclear, _) = probing_is_not_reinit(costs)
    assert unclear.verdict == "inconclusive" and "best-probing hidden state 1 (leads 2 by +0.010" in unclear.detail
    helps = _reinit_run({("keep:0", 100): [0.85, 0.86, 0.87], ("keep:2", 100): [0.80, 0.81, 0.79]})
    assert reinit_all_costs(helps)[0].verdict == "contradicted"
    noisy = _reinit_run({("keep:0", 100): [0.70, 0.90, 0.60], ("keep:2", 100): [0.80, 0.81, 0.79]})
    assert reinit_all_costs(noisy)[0].verdict == "inconclusive"
    (missing,) = cost_depends_on_size(helps)
    assert missing.verdict == "not tested" and "add a second size to train_sizes" in missing.detail
    (no_probe,) = probing_is_not_reinit(helps)
    assert no_probe.verdict == "not tested" and "set probe: true" in no_probe.detail


def test_the_null_control_of_embedding_transfer_on_a_hand_made_run():
    from embedxfer.experiments.embedding_transfer.claims import rotated_is_null, source_beats_random

    rows = []
    for seed, (source, rotated) in enumerate([(0.80, 0.79), (0.82, 0.83), (0.81, 0.81)]):
        for condition, baseline, value in (("source:a", None, source), ("rotated", "rotated", rotated)):
            rows.append(
                {"condition": condition, "seed": seed, "status": "completed", "source": "a", "target": "bag"}
                | {"baseline": baseline, "test_accuracy": value}
            )
    result = {"experiment_id": "hand-made", "kind": "embedding_transfer", "config": {"baselines": ["rotated"]}}
    data = ExperimentData(result, pd.DataFrame(rows), pd.DataFrame(), "test_accuracy")
    (null,) = rotated_is_null(data)
    assert null.verdict == "supported" and null.scope == "a -> bag" and null.n == 3
    (missing,) = source_beats_random(data)
    assert missing.verdict == "not tested" and missing.detail == "add `random-matched` to baselines"


def test_every_kind_with_claims_declares_whole_ones():
    from embedxfer.experiments.registry import list_kinds

    claimed = {kind.name: kind.claims for kind in list_kinds() if kind.claims}
    assert set(claimed) == {"layer_reinit", "frozen_transformer", "embedding_transfer", "module_porting"}
    assert len(claimed["frozen_transformer"]) == 6 and len(claimed["layer_reinit"]) == 3
    for claims in claimed.values():
        for spec in claims:
            assert spec.statement.endswith(".") and spec.source and spec.rule and spec.name.isidentifier()
