"""The `embedxfer` command line: listings, a real run on a tiny checkpoint, show/export, bad input."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from gate import plugin_env
from process_support import cli

from embedxfer.cli import main


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def write_config(path: Path, **fields) -> Path:
    path.write_text(json.dumps(fields))
    return path


@pytest.fixture()
def tiny_config(tmp_path, tiny_checkpoints, embedxfer_home):
    return write_config(
        tmp_path / "tiny.json",
        kind="finetune",
        checkpoint=str(tiny_checkpoints["bert"]),
        task="tweets-binary",
        train_size=16,
        seeds=[0, 1],
        epochs=1,
        batch_size=8,
        max_length=16,
        lr=1e-3,
        eval_size=32,
        device="cpu",
    )


def test_checkpoints_json_lists_bundled_catalog(capsys):
    code, out, _ = run_cli(capsys, "checkpoints", "--json")
    assert code == 0
    rows = {row["id"]: row for row in json.loads(out)}
    assert rows["minilm-l6"]["num_layers"] == 6 and rows["minilm-l6"]["hidden_size"] == 384
    assert rows["minilm-l3"]["num_layers"] == 3
    assert rows["smollm2-135m"]["family"] == "llama" and rows["smollm2-135m"]["vocab_size"] == 49152


def test_tasks_json_lists_registry(capsys):
    code, out, _ = run_cli(capsys, "tasks", "--json")
    names = [row["name"] for row in json.loads(out)]
    assert code == 0
    assert {"tweets-sentiment", "tweets-binary", "word-valence", "digits", "bit-xor", "bit-memory", "listops"} <= set(
        names
    )


# a whole run, then every export including a PNG through Chromium: on a busy 2-core machine that can pass the
# suite's 300 s hang guard without hanging
@pytest.mark.timeout(900)
def test_run_show_runs_export_roundtrip(capsys, tiny_config, tmp_path, request):
    code, out, err = run_cli(capsys, "run", str(tiny_config), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["status"] == "completed" and result["kind"] == "finetune"
    assert [t["seed"] for t in result["trials"]] == [0, 1]
    assert all(0.0 <= t["metrics"]["test_accuracy"] <= 1.0 for t in result["trials"])
    (summary,) = [s for s in result["summary"] if s["metric"] == "test_accuracy"]
    assert summary["condition"] == "full" and summary["n"] == 2
    assert summary["ci_low"] <= summary["mean"] <= summary["ci_high"]

    experiment_id = result["experiment_id"]
    code, out, _ = run_cli(capsys, "show", experiment_id, "--json")
    assert code == 0 and json.loads(out)["trials"] == result["trials"]
    code, out, _ = run_cli(capsys, "runs", "--json")
    assert experiment_id in [row["experiment_id"] for row in json.loads(out)]
    code, out, _ = run_cli(capsys, "show", experiment_id)
    assert "summary (mean and 95% interval over seeds)" in out

    csv_path, html_path = tmp_path / "m.csv", tmp_path / "r.html"
    assert run_cli(capsys, "export", experiment_id, "--format", "csv", "-o", str(csv_path))[0] == 0
    assert "test_accuracy" in csv_path.read_text().splitlines()[0]
    assert run_cli(capsys, "export", experiment_id, "--format", "html", "-o", str(html_path))[0] == 0
    report = html_path.read_text()
    assert "<script" in report and experiment_id in report and "plotly" in report.lower()

    # PNG: without a browser, a sentence saying what to install; with the system Chromium, a PNG of 1000x600
    png_path = tmp_path / "f.png"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("embedxfer.results.export._chromium_path", lambda: None)
        code, _, err = run_cli(capsys, "export", experiment_id, "--format", "png", "-o", str(png_path))
    assert code != 0 and "needs Chromium" in err and not png_path.exists()
    request.getfixturevalue("chromium")
    assert run_cli(capsys, "export", experiment_id, "--format", "png", "-o", str(png_path))[0] == 0
    png = png_path.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (1000, 600)  # IHDR


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"checkpoint": "no-such-model"}, "Unknown checkpoint"),
        ({"checkpoint": "/tmp/embedxfer-definitely-not-here"}, "does not exist"),
        ({"checkpoint": "/definitely/not/here"}, "outside the allowed folders"),
        ({"learning_rate": 1}, "Unknown field 'learning_rate'"),
        ({"seeds": "0,1"}, "Field 'seeds' must be a list"),
        ({"task": "no-such-task"}, "Unknown task"),
        ({"train_size": 10**9}, "at most"),
        ({"freeze": ["layers.9.attn"]}, "No part or group matches 'layers.9.attn'"),
    ],
)
def test_bad_input_is_one_line_and_nonzero(capsys, tiny_config, fields, message):
    data = json.loads(tiny_config.read_text()) | fields
    tiny_config.write_text(json.dumps(data))
    code, _, err = run_cli(capsys, "run", str(tiny_config))
    assert code != 0
    assert len(err.strip().splitlines()) == 1, err
    assert message in err and "Traceback" not in err


def test_unreadable_config_and_unknown_experiment(capsys, tmp_path, embedxfer_home):
    code, _, err = run_cli(capsys, "run", str(tmp_path / "missing.yaml"))
    assert code != 0 and "Cannot read config file" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(capsys, "show", "20000101-000000-dead")
    assert code != 0 and len(err.strip().splitlines()) == 1


def test_ctrl_c_cancels_cleanly_and_records_it(embedxfer_home, gated, gate):
    """SIGINT during a run: exit 130, trials end `cancelled` in the store, nothing left `running`; `resume` then
    completes it. The trial waits at a gate (tests/gated_kind.py) while the signal goes out, so it is mid-run
    however fast or busy the machine; the child starts as from a terminal (SIGINT at its default)."""
    from embedxfer.store import Store

    config = write_config(gate.folder.parent / "held.json", **gate.config(steps=4, hold_at=2))
    env = {"EMBEDXFER_HOME": str(embedxfer_home), **plugin_env()}
    with cli("run", str(config), env=env) as proc:
        (trial_id,) = gate.wait_for(1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    store = Store(embedxfer_home)
    (experiment,) = store.list_experiments()
    assert f"cancelled experiment {experiment['experiment_id']}" in err
    (trial,) = store.list_trials(experiment["experiment_id"])
    assert (trial["trial_id"], trial["status"], trial["step"]) == (trial_id, "cancelled", 2)

    gate.open()
    with cli("resume", experiment["experiment_id"], "--json", env=env) as proc:
        out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert json.loads(out)["status"] == "completed"
    assert [t["step"] for t in store.list_trials(experiment["experiment_id"])] == [4]


def test_symlink_loop_as_checkpoint_exits_2_with_a_sentence(capsys, tiny_config, tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    tiny_config.write_text(json.dumps(json.loads(tiny_config.read_text()) | {"checkpoint": str(loop)}))
    code, _, err = run_cli(capsys, "run", str(tiny_config))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "loops back on itself" in err, err


def test_checkpoints_lists_extra_folders_and_why_they_cannot_be_used(capsys, tiny_checkpoints, tmp_path, monkeypatch):
    import shutil

    broken = tmp_path / "odd-model"
    shutil.copytree(tiny_checkpoints["bert"], broken)
    config = json.loads((broken / "config.json").read_text()) | {"model_type": "not-a-family"}
    (broken / "config.json").write_text(json.dumps(config))
    monkeypatch.setenv("EMBEDXFER_EXTRA_CHECKPOINTS", os.pathsep.join([str(tiny_checkpoints["bert"]), str(broken)]))
    code, out, _ = run_cli(capsys, "checkpoints", "--json")
    rows = {row["id"]: row for row in json.loads(out)}
    tiny = rows[str(tiny_checkpoints["bert"])]
    assert code == 0 and tiny["origin"] == "added" and tiny["available"] and tiny["hidden_size"] == 32
    assert not rows[str(broken)]["available"] and "model_type 'not-a-family'" in rows[str(broken)]["reason"]
    code, out, _ = run_cli(capsys, "checkpoints")
    assert str(tiny_checkpoints["bert"]) in out and "model_type 'not-a-family'" in out


def test_tasks_says_how_to_name_a_file(capsys):
    code, out, _ = run_cli(capsys, "tasks")
    assert code == 0 and "file:PATH?text=COL&label=COL" in out


def test_presets_and_running_one_with_overrides(capsys, tiny_checkpoints, embedxfer_home):
    code, out, _ = run_cli(capsys, "presets", "--json")
    (quick,) = [p for p in json.loads(out) if p["name"] == "finetune-quick"]
    assert code == 0 and quick["kind"] == "finetune" and quick["trials"] == 6 and quick["cpu_seconds"] > 0
    overrides = [
        f"checkpoint={tiny_checkpoints['bert']}",
        "seeds=[0]",
        "train_size=16",
        "epochs=1",
        "max_length=16",
        "eval_size=16",
        "freeze_variants=[]",
        "lr=2e-5",
    ]
    args = [arg for item in overrides for arg in ("--set", item)]
    code, out, err = run_cli(capsys, "run", "preset:finetune-quick", *args, "--workers", "cpu=1", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["status"] == "completed" and [t["condition"] for t in result["trials"]] == ["full"]
    assert result["config"]["lr"] == 2e-5 and result["config"]["task"] == "tweets-binary"
    code, _, err = run_cli(capsys, "run", "preset:finetune-quick", "--set", "colour=red")
    assert code == 2 and "Unknown field 'colour'" in err
    code, _, err = run_cli(capsys, "run", "preset:nope")
    assert code == 2 and "Unknown preset 'nope'" in err
