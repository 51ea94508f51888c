"""Trial reuse on every built-in kind: the recorded key is exactly what a trial depends on.

Per kind, one small run on tiny checkpoints, then `reusable_sources` on changed configs, both directions:
- not too much (a missed reuse): another seed, an added condition or a field the trials never read still reuses
  every trial that is the same trial as before;
- not too little (a stale reuse): a field the trials read, or new weights under the same checkpoint path, reuses
  nothing.
Every trial must record its dependencies, and the same ones when it runs again on warm caches (a dependency read
only when a cache misses would make a cache hit's trial reusable after that dependency changed). Last, a reused
trial's summary row equals its source's, and a module file replaced under the same path (module_porting).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import make_tiny_checkpoint

from embedxfer.experiments import plan_experiment
from embedxfer.jobs import JobManager
from embedxfer.planning.reuse import identities, reusable_sources
from embedxfer.results import experiment_json
from embedxfer.store import Store

#: a config change, given the checkpoint folders of this test (family -> path)
Change = dict[str, Any] | Callable[[dict[str, str]], dict[str, Any]]

#: generous: a wait returns as soon as the experiment ends, so only a hang takes this long
WAIT = 300.0
XOR = "bit-xor?n_train=32&n_val=16&n_test=16"
TWEETS = {"task": "tweets-binary", "max_length": 16, "eval_size": 16}


@dataclass(frozen=True)
class Case:
    #: the smallest config of the kind that runs in seconds (seeds [0] is added)
    config: Callable[[dict[str, str]], dict[str, Any]]
    #: a field every trial reads, set to another valid value: nothing may be reused
    reads: Change
    #: changes the trials must not notice (a field they do not read, another condition beside theirs): every trial
    #: that is the same trial as before is reused, the new ones are not
    keeps: tuple[Change, ...] = ()


CASES: dict[str, Case] = {
    "finetune": Case(
        lambda ck: {"checkpoint": ck["bert"], **TWEETS, "train_size": 16, "epochs": 1, "batch_size": 8, "lr": 1e-3},
        reads={"lr": 2e-3},
        # a second freeze variant beside the plain one; and the device, which is deliberately not part of the key
        keeps=({"freeze_variants": [[], ["embed.tokens"]]}, {"device": "cpu"}),
    ),
    "layer_reinit": Case(
        lambda ck: {"checkpoint": ck["bert"], **TWEETS, "train_sizes": [16], "probe": False, "epochs": 1},
        reads={"max_length": 12},
        # `permutations` only shapes the scramble scheme's conditions; a train size and the probe add trials
        keeps=({"permutations": 2}, {"train_sizes": [16, 24]}, {"probe": True}),
    ),
    "probing": Case(
        lambda ck: {"checkpoints": [ck["bert"]], **TWEETS, "train_size": 20, "control": "none"},
        reads={"max_length": 12},
        keeps=(lambda ck: {"checkpoints": [ck["bert"], ck["gpt2"]]},),  # a condition per checkpoint
    ),
    "layer_similarity": Case(
        lambda ck: {
            "checkpoints": [ck["bert"], ck["llama"]],
            "rows": 40,
            "max_length": 16,
            "permutations": 2,
            "bootstraps": 2,
            "measures": ["cka"],
        },
        reads={"rows": 30},
        # another measure adds its trials; k is mutual_knn's option and pca_width procrustes', not cka's
        keeps=({"measures": ["cka", "mutual_knn"]}, {"k": 5}, {"pca_width": 16}),
    ),
    "stitching": Case(
        lambda ck: {
            "checkpoints": [ck["bert"]],
            **TWEETS,
            "train_size": 24,
            "epochs": 1,
            "pairs": [[1, 1]],
            "random_stitch": False,
        },
        reads={"head_lr": 5e-3},
        keeps=({"pairs": [[1, 1], [2, 2]]}, {"random_stitch": True}),
    ),
    "embedding_map": Case(
        lambda ck: {"checkpoints": [ck["bert"]], "rows": 12, "method": "pca"},
        reads={"rows": 10},
        keeps=({"n_neighbors": 5, "min_dist": 0.5, "perplexity": 5.0},),  # UMAP's and t-SNE's, not PCA's
    ),
    "embedding_similarity": Case(
        lambda ck: {"checkpoints": [ck["bert"], ck["llama"]], "k": 3},
        reads={"k": 4},
        keeps=(lambda ck: {"checkpoints": [ck["bert"], ck["llama"], ck["gpt2"]]},),  # a condition per pair
    ),
    "layer_map": Case(
        lambda ck: {"checkpoint": ck["bert"], "task": "tweets-binary", "examples": 20, "method": "pca", "layers": [0]},
        reads={"examples": 16},
        keeps=({"layers": [0, 1]}, {"n_neighbors": 5, "perplexity": 5.0}),
    ),
    "embedding_transfer": Case(
        lambda ck: {
            "sources": [ck["bert"]],
            **TWEETS,
            "targets": ["bag"],
            "baselines": [],
            "train_size": 32,
            "epochs": 1,
            "batch_size": 16,
        },
        reads={"lr": 2e-3},
        keeps=({"targets": ["bag", "lstm hidden=8"]}, {"baselines": ["shuffled"]}),
    ),
    "frozen_transformer": Case(
        lambda ck: {
            "checkpoint": ck["bert"],
            "task": XOR,
            "steps": 4,
            "eval_every": 2,
            "batch_size": 8,
            "conditions": ["pretrained"],
        },
        reads={"steps": 6},
        # the task and the learning rate travel in each trial's params: more of either add trials beside it
        keeps=({"conditions": ["pretrained", "random"]}, {"lrs": [1e-3, 3e-3]}, {"tasks": [XOR, "bit-xor"]}),
    ),
    "module_porting": Case(
        lambda ck: {
            "origin": ck["bert"],
            "receivers": [ck["bert-receiver"]],
            **TWEETS,
            "train_size": 24,
            "origin_steps": 2,
            "receiver_steps": 2,
            "eval_every": 2,
            "batch_size": 8,
            "rank": 2,
            "conditions": ["origin", "ported"],
        },
        reads={"lr": 1e-3},
        # another condition or technique adds trials; the other techniques' hyperparameters are not LoRA's
        keeps=(
            {"conditions": ["origin", "ported", "scratch"]},
            {"techniques": ["lora", "ia3"]},
            {"prefix_length": 8},
            {"reduction_factor": 4},
        ),
    ),
}


def _checkpoints(source: dict[str, Any], tmp_path) -> dict[str, str]:
    """Private copies of the session's tiny checkpoints: this test may overwrite them."""
    copies = {family: tmp_path / f"tiny-{family}" for family in ("bert", "llama", "gpt2")}
    copies["bert-receiver"] = tmp_path / "bert-receiver"  # module_porting ports between two berts
    for name, folder in copies.items():
        shutil.copytree(source[name.split("-")[0]], folder)
    return {name: str(folder) for name, folder in copies.items()}


def _with(config: dict[str, Any], change: Change, ck: dict[str, str]) -> dict[str, Any]:
    return {**config, **(change(ck) if callable(change) else change)}


def _run(manager: JobManager, config: dict[str, Any], *, fresh: bool = False) -> tuple[str, list[dict[str, Any]]]:
    experiment_id = manager.submit(plan_experiment(config), fresh=fresh)
    assert manager.wait(experiment_id, timeout=WAIT) == "completed", [
        t["error"] for t in manager.store.list_trials(experiment_id)
    ]
    return experiment_id, manager.store.list_trials(experiment_id)


def _deps(store: Store, config: dict[str, Any], trials: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
    """Each trial's recorded dependencies, in trial order (None: none recorded)."""
    found = store.reuse_candidates(identities(plan_experiment(config)))
    by_trial = {trial_id: deps for rows in found.values() for trial_id, deps in rows}
    return [by_trial.get(t["trial_id"]) for t in trials]


def _same_trial(trial: dict[str, Any]) -> str:
    return json.dumps([trial["condition"], int(trial["seed"]), trial["params"]], sort_keys=True)


def _check_reuse(store: Store, config: dict[str, Any], done: list[dict[str, Any]], *, reused: bool) -> None:
    """`reusable_sources` for `config`: with `reused`, a completed trial that is the same trial (condition, seed,
    params) for each trial that ran before and None for the new ones; without, None for every trial."""
    plan = plan_experiment(config)
    sources = reusable_sources(store, plan)
    by_id = {t["trial_id"]: _same_trial(t) for t in done}
    before = set(by_id.values())
    planned = [_same_trial({"condition": s.condition, "seed": s.seed, "params": s.params}) for s in plan.trials]
    # a change meant to keep the trials must keep them in the plan, or "nothing reused" would pass unnoticed
    assert not reused or before <= set(planned), f"the change drops or alters trials: {before - set(planned)}"
    for wanted, source in zip(planned, sources, strict=True):
        if reused and wanted in before:
            assert source is not None, f"{wanted}: not reused"
            assert by_id[source] == wanted, f"{wanted}: reuses {by_id[source]}"
        else:
            assert source is None, f"{wanted}: reuses {source}"


@pytest.mark.parametrize("kind", list(CASES))
def test_the_key_is_what_the_trials_depend_on(kind, tiny_checkpoints, embedxfer_home, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDXFER_CACHE", str(tmp_path / "cache"))  # caches start cold, as on a first run
    case = CASES[kind]
    ck = _checkpoints(tiny_checkpoints, tmp_path)
    config = {"kind": kind, **case.config(ck), "seeds": [0]}
    store = Store()
    try:
        with JobManager(store, workers={"cpu": 1}) as manager:
            _, trials = _run(manager, config)
            # again from scratch, now on warm caches (features, projections, origin modules): the same reads
            _, again = _run(manager, config, fresh=True)
        assert [t["reused_from"] for t in again] == [None] * len(trials), "fresh runs every trial again"
        deps = _deps(store, config, trials)
        assert all(d is not None for d in deps), "a completed trial without recorded dependencies"
        assert _deps(store, config, again) == deps, "what a trial reads depends on whether a cache hit"
        for d in deps:
            assert ck["bert"] in d["checkpoints"], "every trial of these configs reads the tiny bert"
        recorded = sorted(set().union(*(d["fields"] for d in deps)))
        print(f"\n{kind} reads: {', '.join(recorded)}")  # the table of fields each kind reads, with -s
        assert "seeds" not in recorded, "a trial reading the seed list could not be reused beside another seed"
        done = trials + again

        # not too much: the same trials again, beside new ones or under a field they do not read
        _check_reuse(store, config, done, reused=True)
        _check_reuse(store, {**config, "seeds": [0, 1]}, done, reused=True)
        for change in case.keeps:
            _check_reuse(store, _with(config, change, ck), done, reused=True)
        # not too little: a field every trial read
        assert all(set(_with({}, case.reads, ck)) <= set(d["fields"]) for d in deps)
        _check_reuse(store, _with(config, case.reads, ck), done, reused=False)
        # ... and other weights under the same path (last: the copy stays changed)
        make_tiny_checkpoint(tmp_path / "tiny-bert", "bert", seed=1)
        _check_reuse(store, config, done, reused=False)
    finally:
        store.close()


def test_a_reused_trial_has_its_sources_summary(tiny_checkpoints, embedxfer_home, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDXFER_CACHE", str(tmp_path / "cache"))
    config = {"kind": "finetune", **CASES["finetune"].config({"bert": str(tiny_checkpoints["bert"])}), "seeds": [0, 1]}
    store = Store()
    try:
        with JobManager(store, workers={"cpu": 1}) as manager:
            first, trials = _run(manager, config)
            second, reused = _run(manager, config)  # identical: every trial is taken from the first
        assert [t["reused_from"] for t in trials] == [None, None]
        assert [t["reused_from"] for t in reused] == [t["trial_id"] for t in trials]
        original, copy = experiment_json(store, first), experiment_json(store, second)
        assert copy["summary"] and copy["summary"] == original["summary"]
        assert [t["metrics"] for t in copy["trials"]] == [t["metrics"] for t in original["trials"]]
    finally:
        store.close()


def test_a_module_file_replaced_under_the_same_path(tiny_checkpoints, embedxfer_home, tmp_path, monkeypatch):
    """module_porting's `origin_module` names a file the trials load; another module under that path must rerun."""
    monkeypatch.setenv("EMBEDXFER_CACHE", str(tmp_path / "cache"))
    ck = _checkpoints(tiny_checkpoints, tmp_path)
    config = {"kind": "module_porting", **CASES["module_porting"].config(ck), "conditions": ["origin"], "seeds": [0, 1]}
    module = tmp_path / "module.zip"
    store = Store()
    try:
        with JobManager(store, workers={"cpu": 1}) as manager:
            _, origins = _run(manager, config)  # two seeds: two different trained modules
            module.write_bytes(store.read_artifact(origins[0]["trial_id"], "origin_module.zip"))
            config = {**config, "conditions": ["origin", "ported"], "seeds": [0], "origin_module": str(module)}
            _, trials = _run(manager, config)
        _check_reuse(store, config, trials, reused=True)
        first = module.read_bytes()
        module.write_bytes(store.read_artifact(origins[1]["trial_id"], "origin_module.zip"))
        assert module.read_bytes() != first
        # the trials that loaded the first module recorded its content (porting.files.read_module notes the file)
        _check_reuse(store, config, trials, reused=False)
    finally:
        store.close()
