"""Reusing finished trials, the plan preview and learned estimates, driven by a throwaway `reuse_toy` kind (no torch,
a few ms per trial) whose trials read some config fields and not others, resolve a checkpoint and load a task.
Per-kind checks of the key on the real kinds are in tests/test_reuse_kinds.py."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from dataclasses import dataclass
from typing import ClassVar

import pytest
from conftest import make_tiny_checkpoint

from embedxfer.cli import main
from embedxfer.experiments import (
    BaseConfig,
    ExperimentKind,
    KindCard,
    config_field,
    plan_experiment,
    register_kind,
    unregister_kind,
)
from embedxfer.jobs import JobManager
from embedxfer.planning.estimates import Estimate, estimate
from embedxfer.planning.keys import identity_key
from embedxfer.planning.preview import preview_plan
from embedxfer.planning.reuse import reusable_sources
from embedxfer.results import experiment_json
from embedxfer.store import Store
from embedxfer.trials import TrialSpec

WAIT = 120.0
RUN_LOG: list[tuple[str, int]] = []  # (condition, seed) of every trial that ran
_LOCK = threading.Lock()


@dataclass(kw_only=True)
class ToyConfig(BaseConfig):
    kind: ClassVar[str] = "reuse_toy"
    task: str = config_field("none", help="a task the trial loads, or none")
    seeds: list[int] = config_field(factory=lambda: [0], help="seeds")
    conditions: list[str] = config_field(factory=lambda: ["a"], help="one trial per condition and seed")
    checkpoint: str = config_field("", help="a checkpoint the trial resolves, or empty", role="checkpoint")
    lr: float = config_field(0.1, help="read by every trial")
    eval_every: int = config_field(5, help="never read by a trial")
    fail: list[str] = config_field(factory=list, help="conditions whose trials fail (read by every trial)")


def _expand(config: ToyConfig) -> list[TrialSpec]:
    return [TrialSpec(c, s, {"step": 2}) for c in config.conditions for s in config.seeds]


def _run(config: ToyConfig, spec: TrialSpec, ctx) -> dict[str, float]:
    with _LOCK:
        RUN_LOG.append((spec.condition, spec.seed))
    if spec.condition in config.fail:
        raise RuntimeError("boom")
    if config.checkpoint:
        from embedxfer.checkpoints.resolve import resolve_id

        resolve_id(config.checkpoint)
    if config.task != "none":
        from embedxfer.tasks import load_task

        load_task(config.task)
    for step in range(3):
        ctx.log_metrics(step, {"loss": config.lr / (step + 1)})
    (ctx.artifact_dir / "curve.json").write_text(json.dumps([spec.seed, config.lr]))
    return {"test_accuracy": 0.5 + 0.1 * spec.seed + config.lr, "n": float(len(RUN_LOG))}


def _estimate_seconds(config: ToyConfig) -> float:
    return 10.0 * config.lr


@pytest.fixture(autouse=True, scope="module")
def _toy_kind():
    kind = register_kind(
        ExperimentKind(
            name="reuse_toy",
            config_cls=ToyConfig,
            expand=_expand,
            run_trial=_run,
            description="test kind",
            card=KindCard("Reuse test", "?", "tests"),
            estimate_seconds=_estimate_seconds,
        )
    )
    yield kind
    unregister_kind(kind.name)


@pytest.fixture()
def manager(embedxfer_home):
    RUN_LOG.clear()
    jm = JobManager(workers={"cpu": 1})
    try:
        yield jm
    finally:
        jm.close()


def _run_to_end(jm: JobManager, fresh: bool = False, **fields) -> str:
    experiment_id = jm.submit(ToyConfig(**fields), fresh=fresh)
    expected = "partial" if fields.get("fail") else "completed"
    assert jm.wait(experiment_id, timeout=WAIT) == expected
    return experiment_id


def _ran() -> list[tuple[str, int]]:
    with _LOCK:
        ran = list(RUN_LOG)
    RUN_LOG.clear()
    return ran


def test_adding_a_seed_runs_only_the_new_seed_and_copies_the_rest(manager):
    first = _run_to_end(manager, seeds=[0, 1])
    assert _ran() == [("a", 0), ("a", 1)]
    second = _run_to_end(manager, seeds=[0, 1, 2])
    assert _ran() == [("a", 2)]
    store = manager.store
    old, new = store.list_trials(first), store.list_trials(second)
    assert [t["reused_from"] for t in new] == [old[0]["trial_id"], old[1]["trial_id"], None]
    assert all(t["status"] == "completed" for t in new)
    for source, copy in zip(old, new[:2], strict=True):
        assert store.final_metrics(copy["trial_id"]) == store.final_metrics(source["trial_id"])
        steps = store.step_metrics(copy["trial_id"])
        assert steps.equals(store.step_metrics(source["trial_id"])) and len(steps) == 3
        assert store.read_artifact(copy["trial_id"], "curve.json", mode="json") == [source["seed"], 0.1]
    # a reuse of a reuse names the trial that ran, in the preview too
    assert reusable_sources(store, plan_experiment(ToyConfig(seeds=[0])))[0] == old[0]["trial_id"]
    third = _run_to_end(manager, seeds=[0])
    assert _ran() == [] and store.list_trials(third)[0]["reused_from"] == old[0]["trial_id"]
    assert any("reused 1 of 1" in e["message"] for e in store.events(third))


def test_a_reused_trials_summary_row_is_the_sources(manager):
    first = _run_to_end(manager, seeds=[0, 1, 2], conditions=["a", "b"])
    second = _run_to_end(manager, seeds=[0, 1, 2], conditions=["a", "b"])
    assert _ran() == [(c, s) for c in "ab" for s in range(3)]  # the first run only
    one, two = experiment_json(manager.store, first), experiment_json(manager.store, second)
    assert two["summary"] == one["summary"] and two["status"] == "completed"
    assert [t["metrics"] for t in two["trials"]] == [t["metrics"] for t in one["trials"]]


def test_a_field_the_trials_read_reruns_and_one_they_do_not_read_reuses(manager):
    _run_to_end(manager, seeds=[0, 1])
    _ran()
    _run_to_end(manager, seeds=[0, 1], lr=0.2)
    assert _ran() == [("a", 0), ("a", 1)]  # lr is read: every trial again
    _run_to_end(manager, seeds=[0, 1], lr=0.2, eval_every=50)
    assert _ran() == []  # eval_every is never read: nothing runs
    _run_to_end(manager, seeds=[0, 1], lr=0.2, conditions=["a", "b"])
    assert _ran() == [("b", 0), ("b", 1)]  # one more condition: only its trials


def test_fresh_runs_everything(manager):
    _run_to_end(manager, seeds=[0, 1])
    _ran()
    experiment_id = _run_to_end(manager, seeds=[0, 1], fresh=True)
    assert _ran() == [("a", 0), ("a", 1)]
    assert all(t["reused_from"] is None for t in manager.store.list_trials(experiment_id))


def test_failed_trials_are_never_reused(manager):
    _run_to_end(manager, conditions=["a", "b"], fail=["b"])
    assert _ran() == [("a", 0), ("b", 0)]
    _run_to_end(manager, conditions=["a", "b"], fail=["b"])
    assert _ran() == [("b", 0)]  # the failed trial runs again; the completed one is reused


def test_the_recorded_dependencies_are_what_the_trial_read(manager, tiny_checkpoints):
    experiment_id = _run_to_end(manager, checkpoint=str(tiny_checkpoints["bert"]), task="tweets-binary")
    trial_id = manager.store.list_trials(experiment_id)[0]["trial_id"]
    row = sqlite3.connect(manager.store.path).execute("SELECT deps FROM trial_keys WHERE trial_id = ?", (trial_id,))
    deps = json.loads(row.fetchone()[0])
    assert set(deps["fields"]) == {"checkpoint", "task", "lr", "fail"}  # not seeds, conditions, eval_every, device
    assert list(deps["checkpoints"]) == [str(tiny_checkpoints["bert"])]
    assert [t["name"] for t in deps["tasks"].values()] == ["tweets-binary"]


def test_other_weights_under_the_same_name_rerun(manager, tiny_checkpoints, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_checkpoints["bert"], folder)
    _run_to_end(manager, checkpoint=str(folder))
    _run_to_end(manager, checkpoint=str(folder))
    assert _ran() == [("a", 0)]  # same weights: reused
    make_tiny_checkpoint(folder, "bert", seed=1)  # new weights, same path
    _run_to_end(manager, checkpoint=str(folder))
    assert _ran() == [("a", 0)]


def test_edited_task_data_reruns(manager, tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label\n" + "".join(f"words {i},{'pos' if i % 2 else 'neg'}\n" for i in range(20)))
    _run_to_end(manager, task=f"file:{path}")
    _run_to_end(manager, task=f"file:{path}")
    assert _ran() == [("a", 0)]
    path.write_text("text,label\n" + "".join(f"other {i},{'pos' if i % 3 else 'neg'}\n" for i in range(20)))
    _run_to_end(manager, task=f"file:{path}")
    assert _ran() == [("a", 0)]


def test_the_identity_covers_kind_condition_params_seed_and_version():
    spec = TrialSpec("a", 0, {"step": 2})
    base = identity_key("reuse_toy", spec)
    assert identity_key("reuse_toy", TrialSpec("a", 0, {"step": 2})) == base
    others = [
        identity_key("other", spec),
        identity_key("reuse_toy", TrialSpec("b", 0, {"step": 2})),
        identity_key("reuse_toy", TrialSpec("a", 1, {"step": 2})),
        identity_key("reuse_toy", TrialSpec("a", 0, {"step": 3})),
        identity_key("reuse_toy", spec, version="0.0.0"),
    ]
    assert base not in others and len(set(others)) == len(others)


# ---------------------------------------------------------------------------------------------- plan preview and CLI


def test_plan_json_lists_the_trials_run_json_then_runs(embedxfer_home, tmp_path, capsys):
    RUN_LOG.clear()
    path = tmp_path / "toy.json"
    path.write_text(json.dumps({"kind": "reuse_toy", "seeds": [0, 1], "conditions": ["a", "b"]}))
    assert main(["plan", str(path), "--json"]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert (planned["n_trials"], planned["reused"], planned["to_run"]) == (4, 0, 4)
    assert planned["estimate_source"] == "rough formula" and planned["estimate_seconds"] == pytest.approx(4.0)
    assert _ran() == []  # planning runs nothing
    assert main(["run", str(path), "--json"]) == 0
    ran = json.loads(capsys.readouterr().out)
    shape = ("condition", "seed", "params")
    assert [{k: t[k] for k in shape} for t in planned["trials"]] == [{k: t[k] for k in shape} for t in ran["trials"]]

    assert main(["plan", str(path), "--set", "seeds=[0, 1, 2]"]) == 0
    text = capsys.readouterr().out
    assert "6 trials: 4 reused, 2 to run" in text and "from 4 measured trials" in text and "--fresh" in text
    assert main(["plan", str(path), "--fresh", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["to_run"] == 4
    assert main(["run", str(path), "--fresh", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert all(t["reused_from"] is None for t in again["trials"]) and len(_ran()) == 8


# ------------------------------------------------------------------------------------------------ learned estimates


def _measured(store: Store, condition: str, seconds: float, formula: float, device: str = "cpu", reused=False) -> None:
    """A completed trial of reuse_toy that took `seconds` where the formula said `formula`, stored by hand."""
    experiment_id = store.create_experiment("reuse_toy", {"kind": "reuse_toy"}, [TrialSpec(condition, 0)])
    trial_id = f"{experiment_id}-t000"
    store.add_trial_keys([(trial_id, "x", formula)])
    store.start_trial(trial_id, device)
    store.finish_trial(trial_id, "completed", metrics={"test_accuracy": 0.5}, deps={"fields": {}, "checkpoints": {}})
    with sqlite3.connect(store.path) as conn:
        conn.execute(
            "UPDATE trials SET started_at = 1000, finished_at = ?, reused_from = ? WHERE id = ?",
            (1000 + seconds, "elsewhere" if reused else None, trial_id),
        )


def test_estimates_learn_from_measured_trials_on_a_stand_in_timing_table(embedxfer_home):
    store = Store()
    plan = plan_experiment(ToyConfig(conditions=["a", "b", "c"], lr=0.2, device="cpu"))  # formula: 2 s per trial
    specs = list(plan.trials)
    cold = estimate(store, plan, specs)
    assert cold.seconds == (2.0, 2.0, 2.0) and cold.source == "rough formula"
    # condition a measured at 3x and 5x its formula (median 4x); b at 2x; c never ran
    _measured(store, "a", seconds=3.0, formula=1.0)
    _measured(store, "a", seconds=10.0, formula=2.0)
    _measured(store, "a", seconds=4.0, formula=1.0)
    _measured(store, "b", seconds=4.0, formula=2.0)
    _measured(store, "b", seconds=99.0, formula=1.0, device="cuda:0")  # another device type: ignored
    _measured(store, "b", seconds=99.0, formula=1.0, reused=True)  # reused: did not run, ignored
    _measured(store, "a", seconds=500.0, formula=100.0)  # formula 50x the new one: not a similar shape
    warm = estimate(store, plan, specs)
    ratios_any = sorted([3.0, 5.0, 4.0, 2.0])  # c falls back to every similar trial of any condition
    assert warm.seconds == pytest.approx((2.0 * 4.0, 2.0 * 2.0, 2.0 * (ratios_any[1] + ratios_any[2]) / 2))
    assert warm.learned == 3 and warm.source == "from 4 measured trials"
    assert warm.total(workers=2) == pytest.approx(sum(warm.seconds) / 2)


def test_the_estimate_says_which_source_it_used():
    assert Estimate((1.0, 2.0), 0, 0).source == "rough formula"
    assert Estimate((1.0, 2.0), 2, 1).source == "from 1 measured trial"
    assert Estimate((1.0, 2.0), 1, 12).source == "1 of 2 trials from 12 measured trials, the rest by the rough formula"
    assert Estimate((None,), 0, 0).total() is None and Estimate((), 0, 0).source == "nothing to run"


def test_the_preview_counts_reused_trials_and_estimates_only_the_rest(manager):
    _run_to_end(manager, seeds=[0, 1, 2])
    plan = plan_experiment(ToyConfig(seeds=[0, 1, 2, 3], device="cpu"))
    shown = preview_plan(plan, manager.store, slots={"cpu": 1})
    assert (shown.reused, shown.to_run) == (3, 1) and len(shown.estimate.seconds) == 1
    assert shown.summary().startswith("4 trials: 3 reused, 1 to run, about")
    assert reusable_sources(manager.store, plan)[3] is None
    fresh = preview_plan(plan, manager.store, fresh=True, slots={"cpu": 2})
    assert (fresh.reused, fresh.to_run, fresh.workers) == (0, 4, 2) and "fresh" in fresh.summary()
