"""Checkpoints and data files registered from the dashboard: validation, persistence, uploads."""

from __future__ import annotations

import json
import os

import pytest

from embedxfer import workspace
from embedxfer.errors import CheckpointError, EmbedxferError, TaskError


def write_csv(path, text_column="text", label_column="label", rows=30):
    lines = [f"{text_column},{label_column}"]
    lines += [f"sample number {i},{'yes' if i % 2 else 'no'}" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_add_checkpoint_validates_and_persists(embedxfer_home, tiny_checkpoints):
    folder = tiny_checkpoints["llama"]
    info = workspace.add_checkpoint(str(folder))
    assert info.family == "llama" and info.id == str(folder.resolve())
    workspace.add_checkpoint(str(folder))  # twice: still one entry
    assert workspace.registered_checkpoints() == [info.id]
    stored = json.loads((embedxfer_home / "workspace.json").read_text())
    assert stored["checkpoints"] == [info.id]
    assert info.id in workspace.known_checkpoint_ids()
    assert workspace.remove_checkpoint(info.id) and not workspace.remove_checkpoint(info.id)
    assert workspace.registered_checkpoints() == []


def test_bundled_ids_are_not_stored(embedxfer_home):
    from embedxfer.checkpoints import list_checkpoints

    available = [e.id for e in list_checkpoints() if e.available]
    if not available:
        pytest.skip("no bundled checkpoint package installed")
    workspace.add_checkpoint(available[0])
    assert workspace.registered_checkpoints() == []


def test_bad_checkpoint_is_refused_with_a_sentence(embedxfer_home, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="config.json"):
        workspace.add_checkpoint(str(tmp_path / "empty"))
    assert workspace.registered_checkpoints() == []


def test_env_checkpoints_come_first(embedxfer_home, monkeypatch, tiny_checkpoints):
    extra = [str(tiny_checkpoints["bert"]), "hub:org/name"]
    monkeypatch.setenv(workspace.ENV_EXTRA_CHECKPOINTS, os.pathsep.join(extra) + os.pathsep)
    assert workspace.env_checkpoints() == extra
    workspace.add_checkpoint(str(tiny_checkpoints["gpt2"]))
    assert workspace.registered_checkpoints() == [*extra, str(tiny_checkpoints["gpt2"].resolve())]


def test_save_upload_names_and_limits(embedxfer_home, monkeypatch):
    path = workspace.save_upload("../My data (v2).csv", b"text,label\na,b\n")
    assert path.parent == embedxfer_home / "uploads" and path.suffix == ".csv"
    assert path.name.startswith("My_data_v2-") and path.read_bytes() == b"text,label\na,b\n"
    assert workspace.save_upload("My data (v2).csv", b"text,label\na,b\n") == path  # same content, same file
    with pytest.raises(TaskError, match="ending in"):
        workspace.save_upload("data.xlsx", b"x")
    with pytest.raises(TaskError, match="empty"):
        workspace.save_upload("data.csv", b"")
    monkeypatch.setattr(workspace, "MAX_UPLOAD_BYTES", 4)
    with pytest.raises(TaskError, match="limited"):
        workspace.save_upload("data.csv", b"12345")


def test_file_task_roundtrip_with_odd_column_names(embedxfer_home, tmp_path):
    from embedxfer.tasks import load_task

    path = write_csv(tmp_path / "odd.csv", text_column="the text & more", label_column="label=y?")
    name, task = workspace.add_file_task(path, "the text & more", "label=y?")
    assert name.startswith("file:") and task.num_classes == 2
    assert load_task(name).sizes() == task.sizes()
    assert [t["name"] for t in workspace.registered_tasks()] == [name]
    assert name in workspace.known_task_names()
    assert workspace.remove_task(name) and workspace.registered_tasks() == []


def test_regression_file_task_name_carries_the_kind(embedxfer_home, tmp_path):
    path = tmp_path / "scores.csv"
    path.write_text("text,score\n" + "".join(f"word {i},{i / 10}\n" for i in range(30)))
    name, task = workspace.add_file_task(path, "text", "score", label_kind="regression")
    assert "kind=regression" in name and task.metric == "pearson"


def test_bad_file_task_is_not_registered(embedxfer_home, tmp_path):
    path = write_csv(tmp_path / "d.csv")
    with pytest.raises(TaskError, match="no label column"):
        workspace.add_file_task(path, "text", "missing")
    assert workspace.registered_tasks() == []


def test_corrupt_workspace_file_is_reported(embedxfer_home):
    embedxfer_home.mkdir(parents=True, exist_ok=True)
    (embedxfer_home / "workspace.json").write_text("{not json")
    with pytest.raises(EmbedxferError, match="workspace file"):
        workspace.registered_checkpoints()
