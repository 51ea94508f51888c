"""The Board's Layer view: probing, layer_reinit and layer_similarity experiments of one checkpoint stacked on one
hidden-state axis, from a board link (AppTest) and in the board's HTML export."""

from __future__ import annotations

import pytest
from page_support import open_page, run_plan

from embedxfer.errors import EmbedxferError
from embedxfer.experiments import plan_experiment
from embedxfer.results.board import BoardItem, board_html, parse_board


@pytest.fixture()
def three_experiments(app_env, tiny_checkpoints) -> list[str]:
    from embedxfer.store import Store

    bert = str(tiny_checkpoints["bert"])
    small = {"task": "tweets-binary", "seeds": [0, 1], "max_length": 16}
    configs = [
        {"kind": "probing", "checkpoints": [bert], "train_size": 40, "eval_size": 20, **small},
        {"kind": "layer_reinit", "checkpoint": bert, "train_size": 32, "epochs": 1, "probe": False, **small},
        {"kind": "layer_similarity", "checkpoints": [bert], "rows": 40, "permutations": 3, "bootstraps": 4}
        | {"measures": ["cka"], "max_length": 16},
    ]
    store = Store()
    return [run_plan(store, plan_experiment(config))["experiment_id"] for config in configs]


def test_the_layer_view_stacks_three_kinds_on_one_axis(three_experiments):
    from embedxfer.results.data import load_experiment_data
    from embedxfer.results.layer_view import layer_view_figure
    from embedxfer.store import Store

    item = BoardItem("+".join(three_experiments), "layer_view")
    assert parse_board(item.key()) == ([item], [])
    board = open_page("app_pages/board.py", board=item.key())
    assert not board.exception and not board.error, [e.value for e in board.error]
    charts = board.get("plotly_chart")
    assert len(charts) == 1
    figure = charts[0].proto.spec
    for kind in ("probing", "layer_reinit", "layer_similarity"):
        assert kind in figure, kind
    assert "hidden state k (0 = embedding output)" in figure

    datas = [load_experiment_data(Store(), e) for e in three_experiments]
    fig = layer_view_figure(datas)
    names = {trace.name for trace in fig.data if trace.showlegend is not False}
    assert {"keep:k, 32 examples", "debiased CKA: best match", "debiased CKA: equal relative depth"} <= names
    xs = {tuple(trace.x) for trace in fig.data if trace.name == "debiased CKA: equal relative depth"}
    assert xs == {(0, 1, 2)}  # hidden states 0..2 of the 2-block tiny bert, the probe curve's axis too
    page = board_html([("Layer view", fig, "")], 2)
    assert "Layer view: per-layer curves on one hidden-state axis" in page
    run = open_page("app_pages/runs.py", experiment=three_experiments[2])  # layer_similarity's own run page
    assert not run.exception and not run.error and run.get("plotly_chart"), [e.value for e in run.error]


def test_a_reinit_run_shows_its_claims_first_on_the_run_page_and_in_show(three_experiments, capsys):
    """The Claims tab (first) and `show` / `show --json` on a tiny layer_reinit run: one train size and no probe,
    so two of its three claims are "not tested" and say what to add."""
    from embedxfer.cli import main

    reinit = three_experiments[1]
    run = open_page("app_pages/runs.py", experiment=reinit)
    assert not run.exception and not run.error, [e.value for e in run.error]
    assert run.tabs[0].label == "Claims"
    claims = run.dataframe[0].value
    assert list(claims.columns)[:4] == ["claim", "scope", "this run", "verdict"]
    assert set(claims["verdict"]) <= {"supported", "contradicted", "inconclusive", "not tested"}
    assert main(["show", reinit, "--json"]) == 0
    import json

    rows = json.loads(capsys.readouterr().out)["claims"]
    by_name = {r["name"]: r for r in rows}
    assert by_name["cost_depends_on_size"]["verdict"] == "not tested"
    assert "add a second size to train_sizes" in by_name["cost_depends_on_size"]["detail"]
    assert by_name["probing_is_not_reinit"]["detail"].startswith("set probe: true")
    assert by_name["reinit_all_costs"]["n"] == 2 and by_name["reinit_all_costs"]["scope"] == "32 examples"
    assert main(["show", reinit]) == 0
    out = capsys.readouterr().out
    assert "claims (the papers' findings checked on this run's data" in out and "reinit_all_costs:" in out
    board = open_page("app_pages/board.py", board=f"{reinit}:reinit_curve,{three_experiments[0]}:probe_curve")
    assert not board.exception and not board.error, [e.value for e in board.error]
    summary = board.dataframe[0].value  # the claims summary: one row per experiment with claims (not probing)
    assert len(summary) == 1 and summary.loc[0, "kind"] == "layer_reinit"
    assert summary.loc[0, "cost_depends_on_size"] == "not tested"


def test_a_kind_without_a_layer_curve_is_one_sentence(three_experiments, tiny_checkpoints):
    from embedxfer.results.data import load_experiment_data
    from embedxfer.results.layer_view import layer_view_figure
    from embedxfer.store import Store

    config = {"kind": "embedding_map", "checkpoints": [str(tiny_checkpoints["bert"])], "method": "pca", "seeds": [0]}
    other = run_plan(Store(), plan_experiment(config))["experiment_id"]
    with pytest.raises(EmbedxferError, match="which has no per-layer curve; the Layer view takes probing"):
        layer_view_figure([load_experiment_data(Store(), other)])
    board = open_page("app_pages/board.py", board=f"{three_experiments[0]}+{other}:layer_view")
    assert not board.exception and "has no per-layer curve" in "\n".join(w.value for w in board.warning)


def _latex_is_well_formed(text: str) -> None:
    """What pdflatex would choke on first: unbalanced braces, unmatched environments, a row with the wrong number of
    cells, a stray special character or a non-ASCII one."""
    import re

    depth = 0
    for i, ch in enumerate(text):
        if ch == "{" and text[i - 1] != "\\":
            depth += 1
        elif ch == "}" and text[i - 1] != "\\":
            depth -= 1
        assert depth >= 0, text[max(0, i - 40) : i + 1]
    assert depth == 0
    stack = []
    for kind, name in re.findall(r"\\(begin|end)\{(\w+)\}", text):
        if kind == "begin":
            stack.append(name)
        else:
            assert stack.pop() == name
    assert not stack and text.isascii()
    for table in re.findall(r"\\begin\{tabular\}\{(l+)\}(.*?)\\end\{tabular\}", text, flags=re.S):
        columns, body = len(table[0]), table[1]
        rows = [r for r in body.split("\\\\") if "&" in r]
        assert rows and all(len(re.findall(r"(?<!\\)&", r)) == columns - 1 for r in rows)
        assert not re.search(r"(?<!\\)[%#_$]", body.replace("$-$", "").replace(r"$\div$", "").replace(r"$\to$", ""))


def test_tables_export_as_latex_and_markdown(three_experiments, tmp_path):
    import io
    import shutil
    import subprocess

    import pandas as pd

    from embedxfer.results.data import load_experiment_data
    from embedxfer.results.export import export_experiment
    from embedxfer.results.paper_tables import paper_tables
    from embedxfer.store import Store

    reinit = three_experiments[1]
    tex = export_experiment(reinit, "latex", tmp_path / "tables.tex").read_text()
    assert r"\usepackage{booktabs}" in tex and r"\toprule" in tex and "Claims checked on this run" in tex
    _latex_is_well_formed(tex)
    if shutil.which("pdflatex"):
        done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "tables.tex"], cwd=tmp_path, capture_output=True)
        assert done.returncode == 0, done.stdout[-2000:]
    markdown = export_experiment(reinit, "markdown", tmp_path / "tables.md").read_text()
    tables = dict(paper_tables(load_experiment_data(Store(), reinit)))
    blocks = [b for b in markdown.split("\n## ")[1:]]
    assert len(blocks) == len(tables)
    for block in blocks:
        title, table = block.split("\n\n", 1)
        lines = [line for i, line in enumerate(table.strip().splitlines()) if i != 1]  # drop the |---| rule
        parsed = pd.read_csv(io.StringIO("\n".join(line.strip("| ") for line in lines)), sep=r" \| ", engine="python")
        expected = tables[title]
        assert list(parsed.columns) == [str(c) for c in expected.columns] and len(parsed) == len(expected)
