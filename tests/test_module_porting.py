"""The module_porting kind on tiny hosts: the plan, every condition end to end with figures, paired rows, the port
report table and the modules download; zero-shot on an identical host equals the origin exactly; the cached origin
module; module files from outside; bad input (plan, CLI, page); the Home card to the run page; one real run."""

from __future__ import annotations

import io
import json
import shutil
import zipfile

import pytest
import torch
from conftest import make_tiny_checkpoint
from page_support import run_plan

from embedxfer.errors import ConfigError, EmbedxferError
from embedxfer.experiments import plan_experiment
from embedxfer.experiments.module_porting import modules_zip, paired_rows, port_report_table
from embedxfer.results import build_figure, figures_for, load_experiment_data
from embedxfer.store import Store

TASK = "tweets-binary"


@pytest.fixture(scope="module")
def hosts(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("module-porting-hosts")
    made = {
        "bert-4": make_tiny_checkpoint(root / "bert-4", "bert", layers=4, seed=0),
        "bert-2": make_tiny_checkpoint(root / "bert-2", "bert", layers=2, seed=1),
        "llama-2": make_tiny_checkpoint(root / "llama-2", "llama", layers=2, seed=2),
        "llama-3": make_tiny_checkpoint(root / "llama-3", "llama", layers=3, seed=3),
        "wide": make_tiny_checkpoint(root / "bert-wide", "bert", hidden=48, layers=2, seed=4),
    }
    shutil.copytree(made["bert-2"], root / "bert-2-copy")  # the same weights under another path
    made["bert-2-copy"] = root / "bert-2-copy"
    return {name: str(path) for name, path in made.items()}


@pytest.fixture()
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDXFER_CACHE", str(tmp_path / "cache"))
    return Store(tmp_path / "home")


def _config(origin, receivers, **extra):
    return {
        "kind": "module_porting",
        "origin": origin,
        "receivers": receivers,
        "task": TASK,
        "train_size": 48,
        "seeds": [0, 1],
        "origin_steps": 4,
        "receiver_steps": 4,
        "eval_every": 2,
        "eval_size": 24,
        "batch_size": 8,
        "max_length": 16,
        "reduction_factor": 8,
        "rank": 4,
        "prefix_length": 4,
        "prefix_bottleneck": 16,
        **extra,
    }


def test_the_plan_has_one_trial_per_seed_technique_pair_and_condition(hosts):
    plan = plan_experiment(
        _config(hosts["bert-4"], [], host_pairs=[f"{hosts['bert-4']}<->{hosts['bert-2']}"], techniques=["lora", "ia3"])
    )
    assert len(plan.trials) == 2 * 2 * 2 * 4  # seeds x techniques x directions x conditions
    first = plan.trials[:4]
    assert [t.condition for t in first] == ["origin", "ported", "scratch", "sampled"]  # the origin trains first
    assert first[0].params["layer_map"] == "0<-0, 1<-3"
    assert any("layer map spread gives 0<-0, 1<-3" in line for line in plan.notes)


@pytest.mark.parametrize(("origin", "receiver"), [("bert-4", "bert-2"), ("llama-2", "llama-3")])
def test_every_condition_runs_with_figures_paired_rows_report_and_download(origin, receiver, store, hosts):
    config = _config(hosts[origin], [hosts[receiver]], techniques=["lora", "seq_bn"])
    result = run_plan(store, plan_experiment(config))
    trials = result["trials"]
    assert len(trials) == 2 * 2 * 4
    ported = [t for t in trials if t["condition"] == "ported"]
    for trial in ported:
        m = trial["metrics"]
        assert m["ported_tensors"] > 0 and 0 <= m["zero_shot_test_accuracy"] <= 1 and m["steps"] == 4
        assert 0 <= m["test_macro_f1"] <= 1 and 0.5 <= m["test_majority_rate"] <= 1
    scratch = next(t for t in trials if t["condition"] == "scratch")
    assert "ported_tensors" not in scratch["metrics"]  # nothing ported into a scratch module
    data = load_experiment_data(store, result["experiment_id"])
    for spec in figures_for("module_porting"):
        assert build_figure(data, spec.name).data, spec.name
    paired = paired_rows(data)
    assert {"ported − scratch", "ported − sampled", "ported − origin"} <= set(paired["comparison"])
    assert {0, 2, 4} <= set(paired.loc[paired["comparison"] == "ported − scratch", "step"])
    assert {"test_macro_f1 (zero-shot)", "test_macro_f1 (final)"} <= set(paired["measure"])
    report = port_report_table(data)
    assert set(report["action"]) >= {"ported"} and report["setting"].nunique() == 2
    with zipfile.ZipFile(io.BytesIO(modules_zip(data))) as archive:
        names = archive.namelist()
    assert sum(n.endswith("port_report.json") for n in names) == len(ported)
    assert sum(n.endswith("/adapter_config.json") for n in names) == len(ported) + 4  # + the origin modules
    curves = data.steps[data.steps["name"] == "val_accuracy"]
    receiving = {t["trial_id"] for t in trials if t["condition"] != "origin"}
    assert set(curves.loc[curves["trial_id"].isin(receiving), "step"]) == {0, 2, 4}  # zero-shot, then every 2


def test_zero_shot_on_an_identical_host_equals_the_origins_accuracy_exactly(store, hosts):
    config = _config(hosts["bert-2"], [hosts["bert-2-copy"]], conditions=["origin", "ported"], receiver_steps=0)
    result = run_plan(store, plan_experiment(config))
    by_seed: dict[int, dict] = {}
    for trial in result["trials"]:
        by_seed.setdefault(trial["seed"], {})[trial["condition"]] = trial["metrics"]
    for seed, conditions in by_seed.items():
        origin, ported = conditions["origin"], conditions["ported"]
        assert ported["zero_shot_test_accuracy"] == origin["test_accuracy"], seed
        assert ported["skipped_tensors"] == 0 and ported["initialised_tensors"] == 0


def test_a_receiving_trial_trains_the_origin_module_itself_and_later_runs_reuse_it(store, hosts):
    config = _config(hosts["bert-4"], [hosts["bert-2"]], conditions=["ported"], seeds=[0])
    first = run_plan(store, plan_experiment(config))["trials"][0]
    steps = store.step_metrics(first["trial_id"])
    assert set(steps["step"]) == {0, 2, 4}  # its own curve only, not the origin's
    again = run_plan(store, plan_experiment({**config, "conditions": ["origin", "ported"]}))
    origin = next(t for t in again["trials"] if t["condition"] == "origin")
    assert origin["metrics"]["origin_cached"] == 1.0  # trained once, by the first experiment's ported trial
    assert set(store.step_metrics(origin["trial_id"])["step"]) == {2, 4}  # the cached curve, shown here too
    ported = next(t for t in again["trials"] if t["condition"] == "ported")
    assert ported["metrics"]["zero_shot_test_accuracy"] == first["metrics"]["zero_shot_test_accuracy"]


def test_a_downloaded_module_ports_as_an_origin_module_and_a_damaged_one_is_refused(store, hosts, tmp_path):
    config = _config(hosts["bert-4"], [hosts["bert-2"]], conditions=["origin", "ported"], seeds=[0], techniques=["ia3"])
    result = run_plan(store, plan_experiment(config))
    origin = next(t for t in result["trials"] if t["condition"] == "origin")
    archive = tmp_path / "module.zip"
    archive.write_bytes(store.read_artifact(origin["trial_id"], "origin_module.zip"))
    again = run_plan(store, plan_experiment({**config, "origin_module": str(archive), "technique": "ia3"}))
    reused = next(t for t in again["trials"] if t["condition"] == "origin")["metrics"]
    assert reused["origin_from_file"] == 1.0 and reused["test_accuracy"] == origin["metrics"]["test_accuracy"]

    with pytest.raises(ConfigError, match="holds a ia3 module, but technique is 'lora'; set technique: ia3"):
        plan_experiment({**config, "origin_module": str(archive), "technique": "lora", "techniques": []})
    folder = tmp_path / "damaged"
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(folder)
    state = torch.load(folder / "pytorch_adapter.bin", weights_only=True)
    dropped = [k for k in state if ".layer.1." in k]
    torch.save({k: v for k, v in state.items() if k not in dropped}, folder / "pytorch_adapter.bin")
    with pytest.raises(ConfigError, match=r"3 missing \(layers\.1\..*Nothing was loaded"):
        plan_experiment({**config, "origin_module": str(folder), "technique": "ia3"})


def test_an_origin_module_is_never_half_loaded(hosts, tmp_path):
    from embedxfer.experiments.module_porting.config import ModulePortingConfig
    from embedxfer.experiments.module_porting.origin import _load_file
    from embedxfer.experiments.module_porting.training import build_host
    from embedxfer.porting import module_spec
    from embedxfer.porting.files import save_module
    from embedxfer.tasks import load_task

    config = ModulePortingConfig(origin=hosts["bert-2"], receivers=[hosts["bert-4"]], task=TASK, train_size=16)
    task = load_task(TASK).subsample(16, seed=0)
    source = build_host(hosts["bert-2"], module_spec("lora", rank=4), task, config, seed=5)
    folder = save_module(tmp_path / "lora", source.model.backbone, source.model.head, extra={})
    state = torch.load(folder / "pytorch_adapter.bin", weights_only=True)
    torch.save({k: v for k, v in state.items() if "value" not in k}, folder / "pytorch_adapter.bin")
    host = build_host(hosts["bert-2"], module_spec("lora", rank=4), task, config, seed=6)
    before = {n: p.detach().clone() for n, p in host.module_parameters().items()}
    with pytest.raises(ConfigError, match="4 missing"):
        _load_file(str(folder), host, steps=3)
    assert all(torch.equal(before[n], p.detach()) for n, p in host.module_parameters().items())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda h: {"receivers": [h["bert-4"]]}, "is the origin itself"),
        (lambda h: {"receivers": [h["bert-4"] + "/"]}, "is the origin itself"),  # same folder, other spelling
        (lambda h: {"receivers": [h["wide"]]}, r"\(width 32\) to .*bert-wide \(width 48\)"),
        (lambda h: {"receivers": [h["llama-2"]]}, r"\(bert\) to .*\(llama\).*pick hosts of one family"),
        (lambda h: {"layer_map": "0, 4"}, "names origin layer 4, but the origin host has 4 layers"),
        (lambda h: {"layer_map": "1, 1"}, "uses origin layer 1 more than once"),
        (lambda h: {"technique": "compacter", "reduction_factor": 32}, "not a multiple of the hypercomplex"),
        (lambda h: {"task": "digits"}, "is a vectors task; module_porting trains modules inside language models"),
        (lambda h: {"host_pairs": ["a=>b"]}, "is not a host pair; write origin->receiver"),
        (lambda h: {"origin_steps": 0}, "no origin_module is given"),
        (lambda h: {"origin_module": h["bert-4"] + "-module"}, "does not exist"),
        (lambda h: {"origin_module": "/proc/module"}, "outside the allowed folders"),
    ],
)
def test_bad_input_is_one_sentence_that_says_what_works(change, message, hosts):
    with pytest.raises(EmbedxferError, match=message):
        plan_experiment({**_config(hosts["bert-4"], [hosts["bert-2"]]), **change(hosts)})


def test_an_unsupported_technique_names_the_ones_the_family_supports(hosts, monkeypatch):
    from embedxfer.porting import techniques

    monkeypatch.setitem(techniques.SUPPORTED, "llama", ("seq_bn", "lora", "ia3"))
    config = _config(hosts["llama-3"], [hosts["llama-2"]], technique="prefix_tuning")
    expected = r"on llama use seq_bn, lora, ia3; prefix_tuning works on bert, roberta, .*mistral, gpt2"
    with pytest.raises(ConfigError, match=expected):
        plan_experiment(config)


def test_a_module_file_of_another_technique_is_refused(hosts, tmp_path):
    meta = {"config": {"architecture": "lora", "r": 4, "alpha": 4, "composition_mode": "add"}, "name": "x"}
    (tmp_path / "adapter_config.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="holds a lora module, but technique is 'seq_bn'"):
        plan_experiment(_config(hosts["bert-4"], [hosts["bert-2"]], technique="seq_bn", origin_module=str(tmp_path)))
    meta["config"] = {"architecture": "union", "configs": []}
    (tmp_path / "adapter_config.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="of a kind module_porting does not port"):
        plan_experiment(_config(hosts["bert-4"], [hosts["bert-2"]], origin_module=str(tmp_path)))


def test_bad_input_on_the_cli_is_one_line_and_nothing_stored(hosts, embedxfer_home, capsys):
    from embedxfer.cli import main

    args = ["run", "preset:module_porting-quick", "--set", f"origin={hosts['bert-4']}"]
    assert main([*args, "--set", f"receivers=[{hosts['bert-4']}]"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: Receiver") and "is the origin itself" in err and "\n" not in err
    assert main([*args, "--set", f"receivers=[{hosts['bert-2']}]", "--set", "layer_map=0,0"]) == 2
    assert "more than once" in capsys.readouterr().err
    assert Store().list_experiments() == []


def test_from_the_home_card_to_the_run_page(app_env, hosts, monkeypatch):
    import os

    from page_support import open_page, open_tab, texts, wait_finished

    monkeypatch.setenv("EMBEDXFER_EXTRA_CHECKPOINTS", os.pathsep.join([hosts["bert-4"], hosts["bert-2"]]))
    at = open_page("app_pages/new_experiment.py", kind="module_porting", preset="module_porting-quick")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert {m.label: m.value for m in at.metric}["Trials"] == "12"
    assert "sampled: the ported placement" in texts(at)
    # list fields with choices are multiselects of those choices (conditions, techniques)
    assert at.multiselect(key="new-module_porting-conditions").value == ["origin", "ported", "scratch", "sampled"]
    assert "compacter" in at.multiselect(key="new-module_porting-techniques").options
    at.selectbox(key="new-module_porting-origin").set_value(hosts["bert-4"])
    at.multiselect(key="new-module_porting-receivers").set_value([hosts["bert-2"]])
    at.text_input(key="new-module_porting-seeds").set_value("0, 1")
    for field, value in (("origin_steps", 4), ("receiver_steps", 4), ("eval_every", 2), ("eval_size", 16)):
        at.number_input(key=f"new-module_porting-{field}").set_value(value)
    at.number_input(key="new-module_porting-train_size").set_value(32)
    at.number_input(key="new-module_porting-rank").set_value(4)
    at.run()
    assert not at.error, [e.value for e in at.error]
    assert {m.label: m.value for m in at.metric}["Trials"] == "8"
    at.button(key="new-launch").click().run()
    assert not at.exception, [e.value for e in at.exception]
    store = Store(app_env)
    experiment_id = store.list_experiments()[0]["experiment_id"]
    assert wait_finished(store, experiment_id) == "completed", store.events(experiment_id)
    at.switch_page("app_pages/runs.py").run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    assert "runs-board-receiver_curves" in {b.key for b in at.button}
    assert at.tabs[0].label == "Claims"
    claims = at.dataframe[0].value
    assert any(c.startswith("A ported module beats the same module trained from scratch") for c in claims["claim"])
    adapters = claims[claims["claim"] == "Bottleneck adapters port better than prefix tuning."]
    assert list(adapters["verdict"]) == ["not tested"]  # one technique in this run: it says what to add
    assert "add seq_bn and prefix_tuning to techniques" in adapters["this run"].iloc[0]
    open_tab(at, "runs-table-tabs", "Port report (every tensor of each port)")
    report = at.dataframe[-1].value
    assert {"ported", "skipped"} <= set(report["action"])
    open_tab(at, "runs-table-tabs", "Paired comparisons (per seed, 95% interval)")
    assert "ported − scratch" in set(at.dataframe[-1].value["comparison"])
    board = open_page("app_pages/board.py", board=f"{experiment_id}:port_gain_heatmap,{experiment_id}:zero_shot_bars")
    assert not board.exception and not board.error and len(board.get("plotly_chart")) == 2


def test_the_modules_export_on_the_cli(store, hosts, tmp_path, monkeypatch, capsys):
    from embedxfer.cli import main

    monkeypatch.setenv("EMBEDXFER_HOME", str(store.root))
    config = _config(hosts["bert-4"], [hosts["bert-2"]], conditions=["origin", "ported"], seeds=[0])
    experiment_id = run_plan(store, plan_experiment(config))["experiment_id"]
    out = tmp_path / "modules.zip"
    assert main(["export", experiment_id, "--format", "modules", "-o", str(out)]) == 0
    with zipfile.ZipFile(out) as archive:
        assert any(n.endswith("_ported/port_report.json") for n in archive.namelist())
    assert main(["export", experiment_id, "--format", "weights"]) == 2
    assert "use csv, html, png, latex, markdown, modules" in capsys.readouterr().err


@pytest.mark.real
def test_lora_from_minilm_l6_to_minilm_l3(store):
    config = {
        "kind": "module_porting",
        "technique": "lora",
        "origin": "minilm-l6",
        "receivers": ["minilm-l3"],
        "task": TASK,
        "seeds": [0],
        "train_size": 400,
        "origin_steps": 10,
        "receiver_steps": 5,
        "eval_every": 5,
        "eval_size": 64,
    }
    result = run_plan(store, plan_experiment(config))
    trials = {t["condition"]: t for t in result["trials"]}
    ported = trials["ported"]["metrics"]
    # LoRA on q and v of 6 layers (2 tensors each) + head; spread 6 -> 3 takes layers 0, 3, 5
    assert ported["ported_tensors"] == 3 * 4 + 2 and ported["skipped_tensors"] == 3 * 4
    assert trials["origin"]["metrics"]["module_parameters"] == 6 * 2 * 2 * 8 * 384
    assert all(0 <= t["metrics"]["test_accuracy"] <= 1 for t in result["trials"])
    report = json.loads(store.read_artifact(trials["ported"]["trial_id"], "port_report.json"))
    assert report["layer_map"] == [0, 3, 5] and report["counts"]["ported"] == 14
