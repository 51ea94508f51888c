"""A new kind is one package plus one registration line.

This module *is* such a package: `toy_count` (config, expand, run_trial, card, figures, a compat rule and a
preset folder) is registered by one `register_kind` call and, without any other file changing, gets a Home
card, a form filled from its preset, a run, figures on the run page and the Board, a column in the
compatibility matrix, and `embedxfer presets` / `run preset:` on the CLI. It also checks that the three views
of a summary (CLI JSON, run page, HTML report) agree for a kind with group params.
"""

from __future__ import annotations

import io
import json
import re
from contextlib import redirect_stdout
from dataclasses import dataclass, replace
from typing import ClassVar

import pytest
from page_support import open_page, open_tab, wait_finished
from test_compat import BERT

from embedxfer.compat import Support, compat_matrix
from embedxfer.experiments import BaseConfig, ExperimentKind, KindCard, config_field, register_kind, unregister_kind
from embedxfer.results.figures import FigureSpec, condition_summary, metric_curve
from embedxfer.trials import TrialSpec

PRESET = """description: "two toy conditions at two train sizes, 3 seeds (instant)"
config:
  kind: toy_count
  task: tweets-binary
  checkpoint: minilm-l3
  train_sizes: [8, 16]
  conditions: [a, b]
  seeds: [0, 1, 2]
"""


@dataclass(kw_only=True)
class ToyConfig(BaseConfig):
    """Count to a made-up accuracy: no data, no model; what the framework needs of a kind and nothing more."""

    kind: ClassVar[str] = "toy_count"
    checkpoint: str = config_field("minilm-l3", help="Named, never loaded.", role="checkpoint")
    train_sizes: list[int] = config_field(factory=lambda: [8], help="One trial per train size.")
    conditions: list[str] = config_field(factory=lambda: ["a"], help="Compared arms.")
    steps: int = config_field(5, help="Logged steps per trial.")


def toy_expand(config: ToyConfig) -> list[TrialSpec]:
    return [
        TrialSpec(condition, seed, {"train_size": n})
        for condition in config.conditions
        for n in config.train_sizes
        for seed in config.seeds
    ]


def toy_run(config: ToyConfig, spec: TrialSpec, ctx) -> dict[str, float]:
    for step in range(1, config.steps + 1):
        ctx.check_cancel()
        ctx.report({"step": step, "total": config.steps})
        ctx.log_metrics(step, {"train_loss": 1.0 / step})
    # a made-up, seed-dependent accuracy that grows with the train size and differs by condition
    accuracy = 0.5 + 0.01 * spec.params["train_size"] + (0.1 if spec.condition == "b" else 0.0) + 0.02 * spec.seed
    return {"test_accuracy": accuracy, "val_accuracy": accuracy - 0.05, "steps": float(config.steps)}


def toy_compat(a, b) -> Support:
    return Support("yes", "same vocabulary") if a.vocab_size == b.vocab_size else Support("no", "vocabularies differ")


@pytest.fixture(scope="module")
def toy_kind(tmp_path_factory):
    presets = tmp_path_factory.mktemp("toy-presets")
    (presets / "toy-quick.yaml").write_text(PRESET)
    kind = ExperimentKind(
        name="toy_count",
        config_cls=ToyConfig,
        expand=toy_expand,
        run_trial=toy_run,
        description="a test-only kind",
        card=KindCard("Toy counting", "Does the framework serve a kind it has never seen?", "tests", "toy-quick"),
        group_params=("train_size",),
        figures=(
            FigureSpec("summary", "Toy accuracy by condition", condition_summary),
            FigureSpec("loss", "Toy loss", metric_curve("train_loss", "toy loss")),
        ),
        compat=toy_compat,
        presets_dir=presets,
    )
    register_kind(kind)  # the one registration line
    yield kind
    unregister_kind("toy_count")


@pytest.fixture()
def toy_env(toy_kind, app_env):
    return app_env


def cli_json(*argv: str) -> object:
    from embedxfer.cli import main

    out = io.StringIO()
    with redirect_stdout(out):
        assert main(list(argv)) == 0
    return json.loads(out.getvalue())


def test_compat_rule_comes_from_the_kind(toy_kind):
    (pair,) = compat_matrix([BERT, replace(BERT, id="other", vocab_size=100)])
    assert pair.support["toy_count"] == Support("no", "vocabularies differ")
    (same,) = compat_matrix([BERT, replace(BERT, id="twin")])
    assert same.support["toy_count"].level == "yes"


def test_cli_lists_and_runs_its_preset(toy_kind, embedxfer_home, monkeypatch):
    monkeypatch.setenv("EMBEDXFER_WORKERS", "cpu=1")
    listed = {p["name"]: p for p in cli_json("presets", "--json")}
    assert listed["toy-quick"]["kind"] == "toy_count" and listed["toy-quick"]["trials"] == 12
    result = cli_json("run", "preset:toy-quick", "--set", "seeds=[0,1]", "--set", "train_sizes=[8]", "--json")
    assert result["kind"] == "toy_count" and result["status"] == "completed" and len(result["trials"]) == 4
    assert result["config"]["seeds"] == [0, 1]


def test_home_card_form_run_figures_board_and_compat_column(toy_env):
    from embedxfer.results import experiment_json
    from embedxfer.results.data import load_experiment_data
    from embedxfer.results.export import html_report
    from embedxfer.store import Store

    home = open_page("app_pages/home.py")
    assert any("Toy counting" in m.value for m in home.markdown)
    links = {link.value: link.proto.query_string for link in home.get("page_link")}
    assert "preset=toy-quick" in links["Start toy_count"] and "kind=toy_count" in links["Start toy_count"]

    # the card's link: the form of the kind, filled from its quick preset
    form = open_page("app_pages/new_experiment.py", kind="toy_count", preset="toy-quick")
    assert not form.exception and not form.error, [e.value for e in form.error]
    assert form.text_input(key="new-toy_count-train_sizes").value == "8, 16"
    assert form.multiselect(key="new-toy_count-conditions").value == ["a", "b"]
    assert form.selectbox(key="new-toy_count-checkpoint").value == "minilm-l3"  # a checkpoint-role selector
    assert {m.label: m.value for m in form.metric}["Trials"] == "12"
    form.button(key="new-launch").click().run()
    assert not form.exception, [e.value for e in form.exception]
    store = Store(toy_env)
    experiment_id = form.query_params["experiment"]
    assert wait_finished(store, experiment_id) == "completed", store.events(experiment_id)

    run = open_page("app_pages/runs.py", experiment=experiment_id)
    assert not run.exception and not run.error, [e.value for e in run.error]
    assert len(run.get("plotly_chart")) == 1 and "runs-board-summary" in {b.key for b in run.button}
    page_table = run.dataframe[0].value
    board = open_page("app_pages/board.py", board=f"{experiment_id}:summary,{experiment_id}:loss")
    assert not board.exception and not board.error and len(board.get("plotly_chart")) == 2

    # one summary everywhere: the CLI's JSON, the run page's table and the HTML report, grouped by train size
    result = cli_json("show", experiment_id, "--json")
    assert result == experiment_json(store, experiment_id)
    summary = [s for s in result["summary"] if s["metric"] == "test_accuracy"]
    assert len(summary) == 4 and len(page_table) == 4  # (a, b) x (8, 16), not one row per condition
    report = html_report(load_experiment_data(store, experiment_id))
    cells = re.findall(r"<td>([^<]*)</td>", report)
    for item in summary:
        group = f"train_size={item['params']['train_size']}"
        shown = page_table[(page_table["condition"] == item["condition"]) & (page_table["group"] == group)]
        text = shown["test_accuracy"].item()
        assert text.startswith(f"{item['mean']:.4g} [{item['ci_low']:.4g}, ") and item["n"] == 3
        assert text in cells and group in cells  # the same cell in the report
    assert list(page_table.columns)[:3] == ["condition", "group", "test_accuracy"]  # the primary metric first

    checkpoints = open_page("app_pages/checkpoints.py")
    open_tab(checkpoints, "ckpt-tabs", "Compatibility between checkpoints")
    checkpoints.multiselect(key="ckpt-compat").set_value(["minilm-l6", "minilm-l3"]).run()
    assert checkpoints.dataframe[1].value.loc["minilm-l6 ↔ minilm-l3", "toy_count"] == "yes"


def test_kinds_keep_their_listed_order_whoever_imports_one_first():
    """A page importing a kind's helpers registers that kind before the registry loads the rest; Home's cards and
    the compatibility matrix still list the built-ins in BUILTIN_KINDS order (a fresh process, so nothing is
    loaded yet)."""
    import subprocess
    import sys

    script = (
        "import embedxfer.experiments.embedding_transfer\n"
        "from embedxfer.experiments import list_kinds\n"
        "from embedxfer.experiments.registry import BUILTIN_KINDS\n"
        "names = [k.name for k in list_kinds()]\n"
        "assert names[: len(BUILTIN_KINDS)] == [m.rsplit('.', 1)[1] for m in BUILTIN_KINDS], names\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
