"""One seed gives a value and no interval, everywhere: `run` and `show` tables, `show --json`, the CSV and HTML
exports, the run page, the figures (no error bar, no band) and the paired tables (one paired seed).

One tiny frozen_transformer experiment (one seed, pretrained and random backbones and the unfreezing ladder on the
tiny bert, 4 steps each on bit-xor: a few seconds) serves every check: it has a summary, paired comparisons (pretrained
minus random, each rung minus the one below, the steps-to-threshold ratio) and bar, step-chart and band figures.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from page_support import open_page, open_tab

from embedxfer.results.extras import PAIRED_TITLE
from embedxfer.results.summary import INTERVAL_COLUMN, with_interval_text

NO_INTERVAL = "n=1, no interval"
#: a zero-width interval as any view would spell it: "[0.6660, 0.6660]"
ZERO_WIDTH = re.compile(r"\[\s*([-+]?[\d.]+(?:e[-+]?\d+)?),\s*\1\s*\]")


@pytest.fixture(scope="module")
def one_seed(tiny_checkpoints, tmp_path_factory):
    """(home, experiment id, what `embedxfer run` printed) for a finished one-seed frozen_transformer experiment."""
    from embedxfer.cli import main
    from embedxfer.store import Store

    home = tmp_path_factory.mktemp("single-sample") / "home"
    config = home.parent / "one-seed.json"
    fields = {
        "kind": "frozen_transformer",
        "checkpoint": str(tiny_checkpoints["bert"]),
        "task": "bit-xor?n_train=64&n_val=32&n_test=32",
        "conditions": ["pretrained", "random"],
        "ladder": True,
        "seeds": [0],
        "steps": 4,
        "eval_every": 2,
        "batch_size": 8,
        "threshold": 0.0,  # reached at the first evaluation: a steps-to-threshold ratio from one paired seed
    }
    config.write_text(json.dumps(fields))
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EMBEDXFER_HOME", str(home))
        with contextlib.redirect_stdout(printed):
            assert main(["run", str(config)]) == 0
        store = Store(home)
        (experiment,) = store.list_experiments()
        store.close()
    assert experiment["status"] == "completed"
    return home, experiment["experiment_id"], printed.getvalue()


@pytest.fixture()
def at_home(one_seed, monkeypatch):
    """EMBEDXFER_HOME pointing at the one-seed experiment's store; (home, experiment id, run output)."""
    monkeypatch.setenv("EMBEDXFER_HOME", str(one_seed[0]))
    return one_seed


def _data(home, experiment_id):
    from embedxfer.results import load_experiment_data
    from embedxfer.store import Store

    return load_experiment_data(Store(home), experiment_id)


def _section(text: str, heading: str) -> str:
    """The lines of a CLI output from `heading` to the next blank line."""
    return text.split(heading, 1)[1].split("\n\n", 1)[0]


def _rows(section: str) -> list[str]:
    """The data rows of a printed table (its header dropped)."""
    return section.strip().splitlines()[1:]


@pytest.mark.parametrize("command", ["run", "show"])
def test_cli_tables_show_the_value_and_no_interval(at_home, capsys, command):
    from embedxfer.cli import main

    _, experiment_id, printed = at_home
    if command == "show":
        assert main(["show", experiment_id]) == 0
        printed = capsys.readouterr().out
    assert not ZERO_WIDTH.search(printed), printed
    summary = _section(printed, "summary (mean and 95% interval over seeds)")
    accuracy = [row for row in _rows(summary) if " test_accuracy " in row]
    assert len(accuracy) == 2 + 5, summary  # pretrained, random and five ladder rungs: each its value, n=1
    assert all(re.search(rf"test_accuracy +\d\.\d{{4}} +{NO_INTERVAL} +1$", row) for row in accuracy), summary
    assert all(NO_INTERVAL in row for row in _rows(summary))
    paired = _section(printed, "paired comparisons (difference per seed, mean and 95% interval)")
    header = paired.strip().splitlines()[0].split()
    assert "95%" in header and "low" not in header and "high" not in header, paired
    comparisons = _rows(paired)
    assert any("pretrained − random" in row for row in comparisons)
    assert any("random ÷ pretrained" in row for row in comparisons)  # the steps ratio from one paired seed
    assert all(NO_INTERVAL in row for row in comparisons), paired


def test_show_json_has_null_interval_ends(at_home, capsys):
    from embedxfer.cli import main

    _, experiment_id, _ = at_home
    assert main(["show", experiment_id, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary and all(item["n"] == 1 for item in summary)
    assert all(item["ci_low"] is None and item["ci_high"] is None for item in summary)
    assert all(isinstance(item["mean"], float) for item in summary)


def test_csv_and_html_exports(at_home, capsys, tmp_path):
    from embedxfer.cli import main

    _, experiment_id, _ = at_home
    csv_path, html_path = tmp_path / "m.csv", tmp_path / "r.html"
    assert main(["export", experiment_id, "--format", "csv", "-o", str(csv_path)]) == 0
    # the CSV is one row per trial (values, no intervals): each one-seed value is there, and no interval column
    # could hold a zero-width interval
    trials = pd.read_csv(csv_path)
    assert len(trials) == 7 and trials["test_accuracy"].notna().all()
    assert not {"ci_low", "ci_high", "low", "high"} & set(trials.columns)
    assert main(["export", experiment_id, "--format", "html", "-o", str(html_path)]) == 0
    report = html_path.read_text()
    tables = report.split("<h2>Figures</h2>", 1)[0]  # the summary and paired tables; the figures follow
    assert not ZERO_WIDTH.search(tables)
    summary = tables.split("<h2>Summary", 1)[1].split("<h2>", 1)[0]
    assert summary.count(NO_INTERVAL) >= 7  # every condition's test_accuracy (and its other shown metrics)
    paired = tables.split(PAIRED_TITLE, 1)[1]
    assert f"<th>{INTERVAL_COLUMN}</th>" in paired and paired.count(f"<td>{NO_INTERVAL}</td>") >= 2 + 4


def _decoded(array) -> np.ndarray:
    """An error_y array as the browser gets it: plotly's typed array (base64) or a plain JSON list."""
    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]).newbyteorder("<"))
    return np.asarray([math.nan if v is None else v for v in array], dtype=float)


def _drawn_whiskers(spec: dict) -> list[np.ndarray]:
    """The error_y arrays of a figure's JSON that plotly.js would draw (a visible error_y with an array)."""
    bars = [t.get("error_y") for t in spec["data"]]
    return [_decoded(e["array"]) for e in bars if e and e.get("visible", True) is not False and "array" in e]


def _bands(spec: dict) -> list[dict]:
    return [t for t in spec["data"] if t.get("fill") == "toself"]


def test_every_figure_draws_no_error_bar_or_band_for_one_seed(at_home):
    from embedxfer.results.figures import build_figure, figures_for

    home, experiment_id, _ = at_home
    data = _data(home, experiment_id)
    for spec in figures_for("frozen_transformer"):
        figure = json.loads(build_figure(data, spec.name).to_json())
        assert figure["data"] and not _drawn_whiskers(figure) and not _bands(figure), spec.name
    bars = json.loads(build_figure(data, "final_bars").to_json())["data"][0]
    assert bars["error_y"] == {"visible": False} and len(bars["x"]) == 7
    assert all(NO_INTERVAL in text for text in bars["customdata"])  # the hover says so too
    ladder = build_figure(data, "ladder").data[0]
    assert ladder.error_y.visible is False and len(ladder.y) == 5


def test_a_mixed_figure_whiskers_only_the_points_with_an_interval():
    from embedxfer.heatmaps import gain_heatmap
    from embedxfer.plots import (
        plot_condition_summary,
        plot_curves,
        plot_interval_bars,
        plot_training_curves,
    )

    # condition a: two seeds (an interval), b: one seed, c: none in group g=2 (n=0 must not crash)
    trials = pd.DataFrame(
        {
            "condition": ["a", "a", "b", "c"],
            "seed": [0, 1, 0, 0],
            "acc": [0.5, 0.7, 0.6, 0.4],
            "g": [1, 1, 1, 1],
        }
    )
    bar = json.loads(plot_condition_summary(trials, "acc").to_json())["data"][0]
    plus = _decoded(bar["error_y"]["array"])
    # a NaN, not a null: plotly.js reads null as 0 and would draw a zero-width whisker
    assert np.isfinite(plus[0]) and plus[0] > 0 and np.isnan(plus[1:]).all()
    assert NO_INTERVAL in bar["customdata"][1] and bar["customdata"][0].startswith("95% CI [")
    grouped = plot_condition_summary(trials.assign(g=[1, 1, 1, 2]), "acc", group="g")
    assert len(grouped.data) == 4  # a bar and a dot trace per group, conditions missing from a group included

    rows = pd.DataFrame(
        {"x": ["p", "q"], "grp": [1, 1], "mean": [0.1, 0.2], "low": [0.0, None], "high": [0.2, None], "n": [3, 1]}
    )
    paired_bars = json.loads(plot_interval_bars(rows, x="x", group="grp", title="", x_title="", y_title="").to_json())
    (whisker,) = _drawn_whiskers(paired_bars)
    assert whisker[0] == pytest.approx(0.1) and np.isnan(whisker[1])

    cells = gain_heatmap(
        rows.assign(src=["s", "s"]), y="src", x="x", bound=1.0, colorbar="", hovertemplate="", showscale=False
    )
    assert cells.text[0][0] == "+0.100<br>[+0.000, +0.200]<br>n=3" and cells.text[0][1] == f"+0.200<br>{NO_INTERVAL}"

    # a curve: layers 0 and 1 from two seeds, layer 2 from one: the band covers 0..1 and stops there
    curve = pd.DataFrame({"layer": [0, 0, 1, 1, 2], "acc": [0.5, 0.6, 0.6, 0.8, 0.7], "condition": ["m"] * 5})
    figure = json.loads(
        plot_curves(curve, x="layer", value="acc", line="condition", title="", x_title="", y_title="").to_json()
    )
    (band,) = _bands(figure)
    assert band["x"] == [0, 1, 1, 0]
    line = next(t for t in figure["data"] if t.get("mode") == "lines+markers")
    assert NO_INTERVAL in line["customdata"][2]
    # the same for a logged metric against step: two seeds at steps 0 and 1, one at step 2
    steps = pd.DataFrame(
        {"condition": "m", "seed": [0, 1, 0, 1, 0], "step": [0, 0, 1, 1, 2], "name": "loss", "value": [1, 2, 1, 3, 2]}
    )
    (band,) = _bands(json.loads(plot_training_curves(steps, "loss").to_json()))
    assert band["x"] == [0, 1, 1, 0]
    single = pd.DataFrame({"layer": [0, 1], "acc": [0.5, 0.6], "condition": ["m", "m"]})
    figure = plot_curves(single, x="layer", value="acc", line="condition", title="", x_title="", y_title="")
    assert not _bands(json.loads(figure.to_json()))


def test_paired_tables_with_one_paired_seed(at_home):
    from embedxfer.experiments import get_kind
    from embedxfer.experiments.frozen_transformer import efficiency_ratio
    from embedxfer.results.extras import kind_tables

    home, experiment_id, _ = at_home
    data = _data(home, experiment_id)
    paired = get_kind("frozen_transformer").paired(data)
    assert len(paired) == 1 + 4 + 1 and set(paired["n"]) == {1}  # pretrained − random, 4 rungs, the steps ratio
    assert paired["mean"].notna().all() and paired["low"].isna().all() and paired["high"].isna().all()
    (title, build), *_ = kind_tables("frozen_transformer")
    shown = build(data)
    assert title == PAIRED_TITLE and list(shown[INTERVAL_COLUMN]) == [NO_INTERVAL] * len(paired)
    assert {"low", "high"}.isdisjoint(shown.columns) and shown["mean"].notna().all()

    # mixed rows: the interval where there are two pairs, the note where there is one
    mixed = pd.DataFrame({"comparison": ["x", "y"], "mean": [0.1, 0.2], "low": [0.0, None], "high": [0.2, None]})
    text = with_interval_text(mixed.assign(n=[2, 1]))[INTERVAL_COLUMN].tolist()
    assert text == ["[0, 0.2]", NO_INTERVAL]
    # the steps ratio from one paired seed: the ratio, no interval (and none at all without a seed)
    assert efficiency_ratio({0: 400.0}, {0: 100.0}, steps=1000) == (pytest.approx(4.0), None, None, 1, 0)
    ratio, low, high, n, _ = efficiency_ratio({}, {0: 100.0}, steps=1000)
    assert math.isnan(ratio) and low is None and high is None and n == 0


def test_the_run_page_shows_no_interval(app_env, at_home):
    _, experiment_id, _ = at_home
    at = open_page("app_pages/runs.py", experiment=experiment_id)
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    claims = at.dataframe[0].value  # the Claims tab comes first; one seed can support or contradict nothing
    assert "supported" not in set(claims["verdict"]) and "contradicted" not in set(claims["verdict"])
    assert "inconclusive" in set(claims["verdict"])
    open_tab(at, "runs-table-tabs", "Mean and 95% interval over seeds, per condition")
    summary = at.dataframe[-1].value
    assert len(summary) == 7 and (summary["n"] == 1).all()
    assert all(cell.endswith(f"({NO_INTERVAL})") for cell in summary["test_accuracy"])
    (chart, *_) = at.get("plotly_chart")
    figure = json.loads(chart.proto.spec)  # the open figure tab, as the browser gets it
    assert figure["data"] and not _drawn_whiskers(figure) and not _bands(figure)
    open_tab(at, "runs-table-tabs", PAIRED_TITLE)
    paired = at.dataframe[-1].value
    assert (paired[INTERVAL_COLUMN] == NO_INTERVAL).all() and (paired["n"] == 1).all() and len(paired) == 6
