"""The run store: schema, experiments/trials, metrics, derived status, JSON shape, interruption, concurrency."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest
from process_support import end, start

from embedxfer.errors import StoreError
from embedxfer.experiments import BaseConfig, ExperimentKind, KindCard, register_kind, unregister_kind
from embedxfer.results import experiment_json
from embedxfer.store import MetricBuffer, Store, new_experiment_id, write_atomic
from embedxfer.store.db import SCHEMA_VERSION
from embedxfer.trials import TrialSpec, experiment_status


@dataclass(kw_only=True)
class _StoreKindConfig(BaseConfig):
    kind: ClassVar[str] = "dummy_store"


@pytest.fixture(autouse=True, scope="module")
def _dummy_kind():
    """Register `dummy_store` (group param train_size) for this module only."""
    kind = register_kind(
        ExperimentKind(
            name="dummy_store",
            config_cls=_StoreKindConfig,
            expand=lambda c: [],
            run_trial=lambda c, s, x: {},
            description="store tests",
            card=KindCard("Store test", "?", "tests"),
            primary_metric="test_accuracy",
            group_params=("train_size",),
        )
    )
    yield kind
    unregister_kind("dummy_store")


@pytest.fixture()
def store(embedxfer_home) -> Store:
    s = Store()
    yield s
    s.close()


def _specs(conditions=("a", "b"), seeds=(0, 1), train_size=32) -> list[TrialSpec]:
    return [TrialSpec(c, s, {"train_size": train_size, "lr": 0.01}) for c in conditions for s in seeds]


def _config(**extra) -> dict:
    return {"kind": "dummy_store", "task": "tweets-binary", "checkpoint": "minilm-l3", "seeds": [0, 1], **extra}


def test_store_file_is_wal_with_schema_version(store, embedxfer_home):
    assert store.path == embedxfer_home.resolve() / "store.sqlite"
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"experiments", "trials", "step_metrics", "final_metrics", "events", "schema_version"} <= tables
    conn.close()
    Store().close()  # reopening an existing store keeps one version row
    assert sqlite3.connect(store.path).execute("SELECT count(*) FROM schema_version").fetchone()[0] == 1


def test_schema_1_store_gains_the_backend_column_and_keeps_its_rows(store):
    experiment_id = store.create_experiment("dummy_store", _config(), [TrialSpec("a", 0)])
    trial_id = store.list_trials(experiment_id)[0]["trial_id"]
    store.start_trial(trial_id, "cpu")
    store.finish_trial(trial_id, "completed", metrics={"acc": 0.5})
    store.close()
    conn = sqlite3.connect(store.path)  # make it the file an older embedxfer wrote
    conn.execute("ALTER TABLE trials DROP COLUMN backend")
    conn.execute("UPDATE schema_version SET version = 1")
    conn.commit()
    conn.close()
    reopened = Store()
    trial = reopened.get_trial(trial_id)
    assert trial["status"] == "completed" and trial["backend"] is None
    assert reopened.final_metrics(trial_id) == {"acc": 0.5}
    version = sqlite3.connect(reopened.path).execute("SELECT version FROM schema_version").fetchall()
    assert version == [(SCHEMA_VERSION,)]


def test_newer_schema_is_refused(store):
    conn = sqlite3.connect(store.path)
    conn.execute("INSERT INTO schema_version VALUES (99)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer embedxfer"):
        Store(store.root)


def test_unreadable_file_is_a_store_error(tmp_path):
    (tmp_path / "store.sqlite").write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError, match="store"):
        Store(tmp_path)


def test_create_get_and_list(store):
    exp_id = store.create_experiment("dummy_store", _config(), _specs(), name="first")
    assert len(exp_id) == len("20261122-031500-a1b2") and exp_id[8] == "-" and exp_id[15] == "-"
    exp = store.get_experiment(exp_id)
    assert exp["kind"] == "dummy_store" and exp["name"] == "first" and exp["status"] == "queued"
    assert exp["config"]["checkpoint"] == "minilm-l3" and exp["n_trials"] == 4
    trials = store.list_trials(exp_id)
    assert [t["trial_id"] for t in trials] == [f"{exp_id}-t{i:03d}" for i in range(4)]
    assert trials[1]["condition"] == "a" and trials[1]["seed"] == 1 and trials[1]["params"]["lr"] == 0.01
    assert store.get_trial(trials[2]["trial_id"])["condition"] == "b"
    assert store.events(exp_id)[0]["message"].startswith("created with 4")
    with pytest.raises(StoreError, match="embedxfer runs"):
        store.get_experiment("nope")
    with pytest.raises(StoreError):
        store.get_trial("nope-t000")


def test_ids_sort_by_time():
    assert new_experiment_id(1_000_000)[:15] < new_experiment_id(2_000_000)[:15]
    assert new_experiment_id(0).startswith("19700101-000000-")


def test_list_filters(store):
    first = store.create_experiment("dummy_store", _config(), _specs())
    second = store.create_experiment("other_kind", _config(task="digits", checkpoint="smollm2-135m"), _specs())
    for trial in store.list_trials(first):
        store.finish_trial(trial["trial_id"], "completed", metrics={"test_accuracy": 0.5})
    assert [e["experiment_id"] for e in store.list_experiments()][:2] in ([second, first], [first, second])
    assert [e["experiment_id"] for e in store.list_experiments(kind="other_kind")] == [second]
    assert [e["experiment_id"] for e in store.list_experiments(status="completed")] == [first]
    assert [e["experiment_id"] for e in store.list_experiments(checkpoint="smollm2-135m")] == [second]
    assert [e["experiment_id"] for e in store.list_experiments(task="tweets-binary")] == [first]
    assert store.list_experiments(task="minilm-l3") == []  # only task fields count for task
    assert len(store.list_experiments(limit=1)) == 1


def test_resolve_experiment_id(store):
    exp_id = store.create_experiment("dummy_store", _config(), _specs())
    assert store.resolve_experiment_id(exp_id) == exp_id
    assert store.resolve_experiment_id(exp_id[-4:]) == exp_id
    assert store.resolve_experiment_id(exp_id[:10]) == exp_id
    with pytest.raises(StoreError):
        store.resolve_experiment_id("zzzz")


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ({"running": 1, "queued": 2, "completed": 1}, "running"),
        ({"queued": 2, "failed": 1}, "queued"),
        ({"interrupted": 1, "completed": 3}, "interrupted"),
        ({"cancelled": 1, "completed": 3, "failed": 1}, "cancelled"),
        ({"completed": 3}, "completed"),
        ({"failed": 1, "diverged": 2}, "failed"),
        ({"completed": 2, "diverged": 1}, "partial"),
        ({}, "completed"),
    ],
)
def test_experiment_status_rules(counts, expected):
    assert experiment_status(counts) == expected


def test_trial_lifecycle_and_step_metrics(store):
    exp_id = store.create_experiment("dummy_store", _config(), _specs(seeds=(0,)))
    tid = store.list_trials(exp_id)[0]["trial_id"]
    assert store.start_trial(tid, "cpu") is True
    assert store.start_trial(tid, "cpu") is False  # only queued trials start
    trial = store.get_trial(tid)
    assert trial["status"] == "running" and trial["owner_pid"] == os.getpid() and trial["device"] == "cpu"
    assert store.get_experiment(exp_id)["status"] == "running"
    assert store.update_progress(tid, 3, 10) is False
    store.log_step_metrics(tid, [(0, "loss", 1.0), (1, "loss", 0.5), (1, "acc", 0.6), (2, "loss", float("nan"))])
    frame = store.step_metrics(tid)
    assert list(frame.columns) == ["step", "name", "value"] and len(frame) == 4
    assert frame[frame.name == "loss"]["step"].tolist() == [0, 1, 2]
    assert frame[frame.name == "loss"]["value"].isna().tolist() == [False, False, True]
    assert store.step_metrics(tid, names=["acc"])["value"].tolist() == [0.6]
    curves = store.experiment_step_metrics(exp_id)
    assert set(curves.columns) >= {"trial_id", "condition", "seed", "step", "name", "value"} and len(curves) == 4
    store.finish_trial(tid, "completed", step=10, metrics={"test_accuracy": 0.75})
    trial = store.get_trial(tid)
    assert trial["status"] == "completed" and trial["finished_at"] >= trial["started_at"] and trial["step"] == 10
    assert store.final_metrics(tid) == {"test_accuracy": 0.75}
    store.set_trial_status(tid, "failed", error="boom")
    assert store.get_trial(tid)["error"] == "boom"
    with pytest.raises(ValueError):
        store.set_trial_status(tid, "exploded")


def test_metric_buffer_batches_writes(store):
    exp_id = store.create_experiment("dummy_store", _config(), _specs(seeds=(0,)))
    tid = store.list_trials(exp_id)[0]["trial_id"]
    buffer = MetricBuffer(store, tid, max_rows=10, max_seconds=3600)
    for step in range(4):
        buffer.add(step, {"loss": 1.0 / (step + 1), "acc": 0.5})
    assert len(store.step_metrics(tid)) == 0  # 8 rows buffered, nothing written yet
    buffer.add(4, {"loss": 0.2, "acc": 0.5})
    assert len(store.step_metrics(tid)) == 10  # reached max_rows: one batched write
    buffer.add(5, {"loss": 0.1})
    assert buffer.flush() == 1 and len(store.step_metrics(tid)) == 11


def test_final_metrics_frame_and_json(store):
    specs = _specs(conditions=("a", "b"), seeds=(0, 1, 2)) + [TrialSpec("a", 0, {"train_size": 64, "lr": 0.01})]
    exp_id = store.create_experiment("dummy_store", _config(), specs)
    trials = store.list_trials(exp_id)
    values = {"a": [0.7, 0.8, 0.9], "b": [0.5, 0.5, 0.5]}
    for trial in trials[:6]:
        acc = values[trial["condition"]][trial["seed"]]
        store.finish_trial(trial["trial_id"], "completed", metrics={"test_accuracy": acc, "loss": 1 - acc})
    store.finish_trial(trials[6]["trial_id"], "diverged", error="loss became nan at step 3", step=3)

    frame = store.final_metrics_frame(exp_id)
    assert list(frame.columns) == [
        "trial_id",
        "idx",
        "condition",
        "seed",
        "status",
        "error",
        "reused_from",
        "train_size",
        "lr",
        "loss",
        "test_accuracy",
    ]
    assert len(frame) == 7 and frame["test_accuracy"].isna().tolist() == [False] * 6 + [True]

    data = experiment_json(store, exp_id)
    assert list(data) == ["experiment_id", "kind", "status", "config", "trials", "summary"]
    assert data["status"] == "partial" and data["config"]["task"] == "tweets-binary"
    keys = ["trial_id", "condition", "seed", "params", "status", "metrics", "error", "backend", "reused_from"]
    # the public keys; `backend` (thread | ray) came with the Ray backend, `reused_from` with trial reuse
    assert list(data["trials"][0]) == keys
    assert data["trials"][0]["metrics"] == {"loss": pytest.approx(0.3), "test_accuracy": 0.7}
    assert data["trials"][6]["metrics"] == {} and data["trials"][6]["status"] == "diverged"
    assert data["trials"][6]["error"] == "loss became nan at step 3" and data["trials"][0]["error"] is None
    summary = {(s["condition"], s["params"]["train_size"], s["metric"]): s for s in data["summary"]}
    assert set(summary) == {
        ("a", 32, "test_accuracy"),
        ("a", 32, "loss"),
        ("b", 32, "test_accuracy"),
        ("b", 32, "loss"),
    }
    assert data["summary"][0]["metric"] == "test_accuracy"  # the kind's primary metric first
    a = summary[("a", 32, "test_accuracy")]
    # 0.7, 0.8, 0.9: mean 0.8, s = 0.1, t_{0.975, 2} = 4.3026527 -> half 0.2484138
    assert a["n"] == 3 and a["mean"] == pytest.approx(0.8)
    assert (a["ci_low"], a["ci_high"]) == pytest.approx((0.8 - 0.2484138, 0.8 + 0.2484138), abs=1e-6)
    assert a["params"] == {"train_size": 32}
    json.dumps(data, allow_nan=False)  # strict JSON


def test_mark_interrupted_only_touches_dead_owners(store, embedxfer_home):
    exp_id = store.create_experiment("dummy_store", _config(), _specs(seeds=(0, 1, 2)))
    t = [tr["trial_id"] for tr in store.list_trials(exp_id)]
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped, so its pid no longer exists
    for tid in t[:5]:
        store.start_trial(tid, "cpu")
    store.finish_trial(t[0], "completed", metrics={"test_accuracy": 0.9})
    store.finish_trial(t[1], "failed", error="x")
    conn = sqlite3.connect(store.path)
    conn.execute("UPDATE trials SET owner_pid = ?", (dead.pid,))  # every trial "belonged" to the dead process
    conn.execute("UPDATE trials SET owner_pid = ? WHERE id = ?", (os.getppid(), t[3]))  # a live other process
    conn.execute("UPDATE trials SET owner_host = 'elsewhere' WHERE id = ?", (t[4],))  # cannot check: left alone
    conn.commit()
    conn.close()

    assert store.mark_interrupted() == 2  # t[2] (running) and t[5] (queued)
    status = {tid: store.get_trial(tid)["status"] for tid in t}
    assert status == {
        t[0]: "completed",
        t[1]: "failed",
        t[2]: "interrupted",
        t[3]: "running",
        t[4]: "running",
        t[5]: "interrupted",
    }
    assert store.final_metrics(t[0]) == {"test_accuracy": 0.9}
    assert "stopped" in store.get_trial(t[2])["error"]
    assert any(e["level"] == "warning" for e in store.events(exp_id))
    assert store.mark_interrupted() == 0


def test_reset_for_resume_takes_only_unfinished(store):
    exp_id = store.create_experiment("dummy_store", _config(), _specs(conditions=("a",), seeds=(0, 1, 2, 3, 4)))
    t = [tr["trial_id"] for tr in store.list_trials(exp_id)]
    for tid in t:
        store.start_trial(tid, "cpu")
    store.log_step_metrics(t[1], [(0, "loss", 1.0)])
    store.write_artifact(t[1], "curve.json", {"x": 1})
    store.finish_trial(t[0], "completed", metrics={"test_accuracy": 1.0})
    store.finish_trial(t[1], "failed", error="x")
    store.finish_trial(t[2], "cancelled")
    store.finish_trial(t[3], "interrupted")
    assert [tr["trial_id"] for tr in store.unfinished_trials(exp_id)] == t[1:]
    reset = store.reset_trials_for_resume(exp_id)
    assert [tr["trial_id"] for tr in reset] == t[1:4]  # t[4] is still running in this (live) process
    assert all(tr["status"] == "queued" and tr["error"] is None for tr in reset)
    assert len(store.step_metrics(t[1])) == 0 and store.list_artifacts(t[1]) == []
    assert store.get_trial(t[0])["status"] == "completed" and store.final_metrics(t[0]) == {"test_accuracy": 1.0}
    assert store.reset_trials_for_resume(exp_id) == []


def test_request_cancel(store):
    exp_id = store.create_experiment("dummy_store", _config(), _specs(conditions=("a",), seeds=(0, 1)))
    t = [tr["trial_id"] for tr in store.list_trials(exp_id)]
    store.start_trial(t[0], "cpu")
    assert store.request_cancel(experiment_id=exp_id) == t
    assert store.get_trial(t[1])["status"] == "cancelled"
    assert store.get_trial(t[0])["cancel_requested"] is True
    assert store.update_progress(t[0], 1, 2) is True  # the worker learns about it on its next progress write


def test_artifacts_are_atomic_and_validated(store, monkeypatch):
    exp_id = store.create_experiment("dummy_store", _config(), _specs(seeds=(0,)))
    tid = store.list_trials(exp_id)[0]["trial_id"]
    store.write_artifact(tid, "curve.json", {"steps": [1, 2]})
    store.write_artifact(tid, "notes.txt", "héllo")
    store.write_artifact(tid, "weights.bin", b"\x00\x01")
    assert store.read_artifact(tid, "curve.json", mode="json") == {"steps": [1, 2]}
    assert store.read_artifact(tid, "notes.txt", mode="text") == "héllo"
    assert store.read_artifact(tid, "weights.bin") == b"\x00\x01"
    assert store.list_artifacts(tid) == ["curve.json", "notes.txt", "weights.bin"]
    assert store.artifact_dir(tid) == store.root / "artifacts" / tid

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        store.write_artifact(tid, "notes.txt", "half written")
    monkeypatch.undo()
    assert store.read_artifact(tid, "notes.txt", mode="text") == "héllo"  # old content intact
    assert sorted(p.name for p in store.artifact_dir(tid).iterdir()) == store.list_artifacts(tid)  # no temp files
    for bad in ("../x", "a/b", ".hidden", ""):
        with pytest.raises(StoreError):
            store.write_artifact(tid, bad, "x")
    with pytest.raises(StoreError):
        store.artifact_dir("../../etc")
    with pytest.raises(StoreError, match="no artifact"):
        store.read_artifact(tid, "missing.json")
    assert json.loads(write_atomic(store.root / "loose.json", [1]).read_text()) == [1]


def test_delete_experiment(store):
    keep = store.create_experiment("dummy_store", _config(), _specs(seeds=(0,)))
    exp_id = store.create_experiment("dummy_store", _config(), _specs(seeds=(0,)))
    t = [tr["trial_id"] for tr in store.list_trials(exp_id)]
    store.start_trial(t[0], "cpu")
    store.log_step_metrics(t[0], [(0, "loss", 1.0)])
    store.write_artifact(t[0], "a.json", {})
    with pytest.raises(StoreError, match="cancel it first"):
        store.delete_experiment(exp_id)
    store.finish_trial(t[0], "completed", metrics={"test_accuracy": 1.0})
    store.finish_trial(t[1], "cancelled")
    store.delete_experiment(exp_id)
    assert not (store.artifacts_root / t[0]).exists()
    with pytest.raises(StoreError):
        store.get_experiment(exp_id)
    conn = sqlite3.connect(store.path)
    for table in ("trials", "step_metrics", "final_metrics"):
        column = "id" if table == "trials" else "trial_id"
        assert conn.execute(f"SELECT count(*) FROM {table} WHERE {column} LIKE ?", (exp_id + "%",)).fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM events WHERE experiment_id = ?", (exp_id,)).fetchone()[0] == 0
    conn.close()
    assert store.get_experiment(keep)["n_trials"] == 2
    store.delete_experiment(keep, force=True)  # queued, but forced


def test_many_threads_write_at_once(store):
    exp_id = store.create_experiment("dummy_store", _config(), _specs(conditions=("a",), seeds=tuple(range(8))))
    trials = [t["trial_id"] for t in store.list_trials(exp_id)]
    errors = []

    def work(tid: str) -> None:
        try:
            for step in range(40):
                store.log_step_metrics(tid, [(step, "loss", 1.0)])
                store.add_event(exp_id, f"{tid} step {step}", trial_id=tid)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(tid,)) for tid in trials]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(len(store.step_metrics(tid)) for tid in trials) == 8 * 40
    assert len(store.events(exp_id)) == 1 + 8 * 40


def test_writes_wait_for_another_writer_and_time_out_clearly(store, embedxfer_home):
    exp_id = store.create_experiment("dummy_store", _config(), _specs(seeds=(0,)))
    blocker = sqlite3.connect(store.path, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    releaser = threading.Timer(0.3, lambda: blocker.execute("COMMIT"))
    releaser.start()
    store.add_event(exp_id, "written after the other writer let go")
    releaser.join()
    assert store.events(exp_id)[-1]["message"].startswith("written after")

    impatient = Store(store.root, lock_timeout=0.2)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match="stayed locked"):
            impatient.add_event(exp_id, "never written")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        impatient.close()


_WRITER = """
import sys
from embedxfer.trials import TrialSpec
from embedxfer.store import Store
store = Store(sys.argv[1])
me, other = sys.argv[2], sys.argv[3]
written = 0
# keep writing until this side wrote 60 rows and has seen the other side write 20: the two overlap by construction
while written < 60 or len(store.list_experiments(kind=other, limit=None)) < 20:
    exp = store.create_experiment(me, {"kind": me, "i": written}, [TrialSpec("c", 0, {})])
    tid = exp + "-t000"
    store.log_step_metrics(tid, [(s, "loss", 0.1) for s in range(20)])
    store.finish_trial(tid, "completed", metrics={"acc": 1.0})
    written += 1
print("ok", written)
"""


def test_two_processes_write_at_once(store):
    """Two processes write rows at the same time; neither fails on a lock and nothing is lost."""
    children = [
        start([sys.executable, "-c", _WRITER, str(store.root), me, other])
        for me, other in (("writer_a", "writer_b"), ("writer_b", "writer_a"))
    ]
    counts = {}
    try:
        for name, child in zip(("writer_a", "writer_b"), children, strict=True):
            out, err = child.communicate()
            assert child.returncode == 0 and "locked" not in err, err
            word, written = out.split()
            assert word == "ok" and int(written) >= 60
            counts[name] = int(written)
    finally:
        for child in children:
            end(child)
    for name, n in counts.items():
        assert len(store.list_experiments(kind=name, limit=None)) == n
    assert all(e["status"] == "completed" for e in store.list_experiments(limit=None))
    conn = sqlite3.connect(store.path)
    assert conn.execute("SELECT count(*) FROM step_metrics").fetchone()[0] == sum(counts.values()) * 20
    conn.close()


def test_a_killed_but_unreaped_process_counts_as_dead():
    """kill -9 leaves a zombie until its parent reaps it; kill(pid, 0) still succeeds then."""
    from embedxfer.store import pid_alive

    child = start([sys.executable, "-c", "import time; time.sleep(600)"], stdout=None, stderr=None)
    try:
        assert pid_alive(child.pid)
        child.kill()
        while Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z":
            time.sleep(0.05)  # a zombie until reaped: we never call wait() before the check
        assert not pid_alive(child.pid)
    finally:
        end(child)
