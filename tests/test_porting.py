"""The porting mechanics on tiny hosts (embedxfer/porting/): every technique attaches, trains, saves, ports and loads
on bert pairs of equal width and different depth and on a llama pair; the port report names every tensor of both
modules; layer maps; sampling keeps each tensor's statistics; module files load completely or not at all."""

from __future__ import annotations

import shutil

import pytest
import torch
from conftest import make_tiny_checkpoint

from embedxfer.errors import ConfigError, PartError
from embedxfer.heads import task_scores
from embedxfer.porting import (
    TECHNIQUES,
    check_host,
    check_widths,
    module_spec,
    parse_layer_map,
    resolve_layer_map,
    technique_of,
)
from embedxfer.porting.files import WEIGHTS_FILE, check_complete, read_module, save_module
from embedxfer.porting.modules import attach, expected_shapes, layer_of, module_parameters
from embedxfer.porting.port import port_module, sample_like

#: small enough for hidden 32: compacter's bottleneck 32 / 8 = 4 is a multiple of its hypercomplex dimension 4
OPTIONS = {"reduction_factor": 8, "prefix_length": 4, "bottleneck": 16, "rank": 4}


@pytest.fixture(scope="module")
def hosts(tmp_path_factory) -> dict[str, str]:
    """bert with 6 and 3 layers, llama with 4 and 2, gpt2 with 3 and 2, all of width 32 (different seeds: different
    weights)."""
    root = tmp_path_factory.mktemp("porting-hosts")
    shapes = {
        "bert-6": ("bert", 6),
        "bert-3": ("bert", 3),
        "llama-4": ("llama", 4),
        "llama-2": ("llama", 2),
        "gpt2-3": ("gpt2", 3),
        "gpt2-2": ("gpt2", 2),
    }
    return {
        name: str(make_tiny_checkpoint(root / name, family, layers=layers, seed=i))
        for i, (name, (family, layers)) in enumerate(shapes.items())
    }


def _host(checkpoint: str, technique: str, seed: int):
    from embedxfer.checkpoints import fresh_model

    loaded = fresh_model(checkpoint)
    attach(loaded.model, module_spec(technique, **OPTIONS), loaded.info.family, seed)
    return loaded


def _train_a_little(loaded, steps: int = 3) -> None:
    """A few optimisation steps of the module alone on random tokens (any loss will do: the values must move)."""
    params = [p for p in loaded.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-2)
    torch.manual_seed(0)
    for _ in range(steps):
        ids = torch.randint(5, 25, (4, 7))
        mask = torch.ones_like(ids)
        mask[0, 4:] = 0  # a padded row
        loss = loaded.model(input_ids=ids, attention_mask=mask).last_hidden_state.pow(2).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()


def _port(source, target, mapping, technique, origin_layers=6, receiver_layers=3):
    return port_module(
        source,
        target,
        mapping,
        origin="a",
        receiver="b",
        technique=technique,
        origin_layers=origin_layers,
        receiver_layers=receiver_layers,
    )


PAIRS = [("bert-6", "bert-3"), ("bert-3", "bert-6"), ("llama-4", "llama-2"), ("gpt2-2", "gpt2-3")]


@pytest.mark.parametrize("technique", TECHNIQUES)
@pytest.mark.parametrize(("origin", "receiver"), PAIRS)
def test_each_technique_trains_saves_ports_and_loads(technique, origin, receiver, hosts, tmp_path):
    a, b = _host(hosts[origin], technique, seed=0), _host(hosts[receiver], technique, seed=1)
    family = a.info.family
    before = {n: p.detach().clone() for n, p in module_parameters(a.model, family).items()}
    frozen = {n: p.detach().clone() for n, p in a.model.named_parameters() if not p.requires_grad}
    _train_a_little(a)
    trained = module_parameters(a.model, family)
    assert any(not torch.equal(before[n], p) for n, p in trained.items()), "the module did not train"
    assert all(torch.equal(frozen[n], p) for n, p in a.model.named_parameters() if n in frozen), "the host moved"

    folder = save_module(tmp_path / "module", a.model, None, extra={})
    file = read_module(folder, family)
    assert file.spec.technique == technique and set(file.tensors) == set(trained)
    assert all(torch.equal(file.tensors[n], p.detach()) for n, p in trained.items())
    check_complete(file, expected_shapes(a.model.config, file.spec, family), origin)

    mapping = resolve_layer_map("spread", a.info.num_layers, b.info.num_layers)
    target = module_parameters(b.model, family)
    report = port_module(
        file.tensors,
        target,
        mapping,
        origin=origin,
        receiver=receiver,
        technique=technique,
        origin_layers=a.info.num_layers,
        receiver_layers=b.info.num_layers,
    )
    for entry in report.entries:
        if entry.action == "ported":
            assert torch.equal(target[entry.parameter].detach(), file.tensors[entry.source])
            layer = layer_of(entry.parameter)
            if layer is not None:
                assert layer_of(entry.source) == mapping[layer]
    # the receiver runs with the ported module, padded batches included
    ids = torch.randint(5, 25, (2, 6))
    out = b.model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("technique", TECHNIQUES)
def test_the_port_report_names_every_tensor_of_both_modules(technique, hosts):
    a, b = _host(hosts["bert-6"], technique, 0), _host(hosts["bert-3"], technique, 1)
    source = {n: p.detach() for n, p in module_parameters(a.model, "bert").items()}
    target = module_parameters(b.model, "bert")
    report = _port(source, target, [0, 3, 5], technique)
    filled = [e for e in report.entries if e.action != "skipped"]
    assert sorted(e.parameter for e in filled) == sorted(target)  # every receiving tensor once
    used = {e.source for e in report.entries if e.source is not None}
    assert used == set(source)  # every origin tensor ported, reshaped or skipped: none dropped silently
    counts = report.counts()
    assert sum(counts.values()) == len(report.entries)
    if technique == "prefix_tuning":  # one MLP for all layers: its output layer is cut down to 3 layers' rows
        assert counts["reshaped"] == 2 and counts["skipped"] == 0
    else:
        assert counts["ported"] == len(target) and counts["skipped"] == len(source) - len(target)


def test_spread_maps_the_first_and_last_layers_and_spaces_the_rest():
    assert resolve_layer_map("spread", 6, 3) == [0, 3, 5]
    assert resolve_layer_map("spread", 3, 6) == [0, 0, 1, 1, 2, 2]
    assert resolve_layer_map("first", 6, 3) == [0, 1, 2] and resolve_layer_map("first", 3, 6)[3:] == [None] * 3
    assert resolve_layer_map("last", 6, 3) == [3, 4, 5] and resolve_layer_map("last", 3, 6) == [None] * 3 + [0, 1, 2]
    for named in ("first", "spread", "last"):
        assert resolve_layer_map(named, 4, 4) == [0, 1, 2, 3]
    assert resolve_layer_map(parse_layer_map("2, -, 0"), 3, 3) == [2, None, 0]


@pytest.mark.parametrize(
    ("origin", "receiver", "mapping"), [("bert-6", "bert-3", [0, 3, 5]), ("bert-3", "bert-6", None)]
)
def test_spread_ports_the_right_layers_both_ways(origin, receiver, mapping, hosts):
    a, b = _host(hosts[origin], "lora", 0), _host(hosts[receiver], "lora", 1)
    layers = (a.info.num_layers, b.info.num_layers)
    mapping = mapping or [0, 0, 1, 1, 2, 2]
    assert resolve_layer_map("spread", *layers) == mapping
    source = {n: p.detach() + 1.0 for n, p in module_parameters(a.model, "bert").items()}
    target = module_parameters(b.model, "bert")
    _port(source, target, mapping, "lora", *layers)
    for j, o in enumerate(mapping):
        name = f"layers.{j}.attention.self.query.loras.module.lora_A"
        assert torch.equal(target[name].detach(), source[f"layers.{o}.attention.self.query.loras.module.lora_A"])


def test_prefix_rows_follow_the_layer_map(hosts):
    a, b = _host(hosts["bert-6"], "prefix_tuning", 0), _host(hosts["bert-3"], "prefix_tuning", 1)
    source = {n: p.detach().clone() for n, p in module_parameters(a.model, "bert").items()}
    target = module_parameters(b.model, "bert")
    _port(source, target, [0, 3, 5], "prefix_tuning")
    name = next(n for n in source if n.endswith("control_trans.2.weight"))
    rows = source[name].shape[0] // 6  # (key, value) x width per layer
    for j, o in enumerate([0, 3, 5]):
        assert torch.equal(target[name][j * rows : (j + 1) * rows].detach(), source[name][o * rows : (o + 1) * rows])


def test_a_width_mismatch_is_refused_naming_both_widths():
    with pytest.raises(PartError, match=r"from a \(width 32\) to b \(width 48\)"):
        check_widths("a", 32, "b", 48)


def test_sampled_keeps_each_tensors_mean_and_std_but_not_its_values(hosts):
    a, b = _host(hosts["bert-6"], "seq_bn", 0), _host(hosts["bert-3"], "seq_bn", 1)
    _train_a_little(a)
    source = {n: p.detach().clone() for n, p in module_parameters(a.model, "bert").items()}
    target = module_parameters(b.model, "bert")
    report = _port(source, target, [0, 3, 5], "seq_bn")
    ported = {e.parameter: target[e.parameter].detach().clone() for e in report.entries if e.action == "ported"}
    sample_like(target, report, seed=0)
    for name, value in ported.items():
        sampled = target[name].detach()
        assert torch.allclose(sampled.mean(), value.mean(), atol=1e-6)
        if value.numel() > 1:
            assert torch.allclose(sampled.std(), value.std(), rtol=1e-4, atol=1e-7)
            assert not torch.equal(sampled, value)
    again = _host(hosts["bert-3"], "seq_bn", 1)
    target_again = module_parameters(again.model, "bert")
    _port(source, target_again, [0, 3, 5], "seq_bn")
    sample_like(target_again, report, seed=0)
    assert all(torch.equal(target_again[n].detach(), target[n].detach()) for n in ported)  # seeded


def test_compacters_shared_rule_is_in_the_file_and_a_missing_tensor_is_listed_not_half_loaded(hosts, tmp_path):
    a = _host(hosts["bert-3"], "compacter", 0)
    folder = save_module(tmp_path / "compacter", a.model, None, extra={})
    state = torch.load(folder / WEIGHTS_FILE, weights_only=True)
    assert any("shared_parameters.module.phm_rule" in k for k in state)  # adapters' save_adapter leaves it out
    damaged = tmp_path / "damaged"
    shutil.copytree(folder, damaged)
    del state[next(k for k in state if k.endswith("adapter_up.b"))]
    torch.save(state, damaged / WEIGHTS_FILE)
    file = read_module(damaged, "bert")
    expected = expected_shapes(a.model.config, file.spec, "bert")
    with pytest.raises(ConfigError, match=r"1 missing \(layers\.\d\..*adapter_up\.b\).*Nothing was loaded"):
        check_complete(file, expected, "bert-3")


@pytest.mark.parametrize("host", ["llama-2", "gpt2-2"])
def test_prefix_tuning_on_causal_hosts_survives_padding(host, hosts):
    """adapters 1.3.0 drops llama/gpt2 prefixes under SDPA attention when a mask pads the batch; attach() switches
    those hosts to eager attention, so a padded row gives the same states as the row alone."""
    loaded = _host(hosts[host], "prefix_tuning", 0)
    _train_a_little(loaded)
    model = loaded.model.eval()
    short, long = torch.randint(5, 25, (1, 4)), torch.randint(5, 25, (1, 7))
    ids = torch.zeros(2, 7, dtype=torch.long)
    ids[0, :4], ids[1] = short, long
    mask = torch.zeros_like(ids)
    mask[0, :4], mask[1] = 1, 1
    with torch.no_grad():
        alone = model(input_ids=short, attention_mask=torch.ones_like(short)).last_hidden_state[0]
        batched = model(input_ids=ids, attention_mask=mask).last_hidden_state[0, :4]
    assert torch.allclose(alone, batched, atol=1e-5)


def test_technique_names_round_trip_through_adapter_configs():
    import adapters

    from embedxfer.porting.techniques import adapters_config

    for technique in TECHNIQUES:
        raw = adapters_config(module_spec(technique)).to_dict()
        assert technique_of(raw) == technique
    assert technique_of(adapters.ParBnConfig().to_dict()) is None


def test_host_checks_say_what_works(monkeypatch):
    from embedxfer.porting import techniques

    with pytest.raises(ConfigError, match="multiple of the hypercomplex dimension 4; use reduction_factor"):
        check_host(module_spec("compacter"), "bert", 32, "tiny")  # 32 // 32 = 1
    monkeypatch.setitem(techniques.SUPPORTED, "gpt2", ("lora", "ia3"))
    expected = r"on gpt2 use lora, ia3; prefix_tuning works on bert, roberta, .*llama, mistral"
    with pytest.raises(ConfigError, match=expected):
        check_host(module_spec("prefix_tuning"), "gpt2", 32, "tiny-gpt2")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0, 3, 3", "uses origin layer 3 more than once"),
        ("0, x, 5", "'x' is not a layer index"),
        ("-, -", "ports nothing"),
        ("", "use first, spread, last"),
    ],
)
def test_bad_explicit_layer_maps(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_layer_map(text)


def test_an_explicit_map_must_fit_both_hosts():
    with pytest.raises(ConfigError, match="names origin layer 6, but the origin host has 6 layers"):
        resolve_layer_map([0, 3, 6], 6, 3)
    with pytest.raises(ConfigError, match="lists 2 layers, but the receiving host has 3"):
        resolve_layer_map([0, 3], 6, 3)


def test_saved_modules_load_with_the_adapters_library_itself(hosts, tmp_path):
    import adapters

    from embedxfer.checkpoints import fresh_model

    for technique in ("lora", "compacter"):
        a = _host(hosts["bert-3"], technique, 0)
        _train_a_little(a)
        folder = save_module(tmp_path / technique, a.model, None, extra={})
        b = fresh_model(hosts["bert-3"]).model
        adapters.init(b)
        b.set_active_adapters(b.load_adapter(str(folder)))
        ids = torch.randint(5, 25, (2, 6))
        with torch.no_grad():
            same = torch.equal(
                a.model.eval()(input_ids=ids).last_hidden_state, b.eval()(input_ids=ids).last_hidden_state
            )
        assert same, technique


def test_a_compacter_saved_by_adapters_alone_is_reported_incomplete(hosts, tmp_path):
    """adapters' save_adapter drops compacter's shared hypercomplex rule from a bare base model's file; its own
    load_adapter then keeps a fresh rule without a word. read_module + check_complete list it instead."""
    a = _host(hosts["bert-3"], "compacter", 0)
    a.model.save_adapter(str(tmp_path), "module")
    file = read_module(tmp_path, "bert")
    with pytest.raises(ConfigError, match=r"1 missing \(shared\.parameters\.phm_rule\)"):
        check_complete(file, expected_shapes(a.model.config, file.spec, "bert"), "bert-3")


def test_task_scores_report_macro_f1_and_the_majority_rate():
    import numpy as np

    labels = np.array([0, 0, 0, 1])
    always_majority = task_scores(np.zeros(4, dtype=int), labels, "accuracy")
    assert always_majority == {
        "accuracy": 0.75,
        "macro_f1": pytest.approx(3 / 7),
        "majority_rate": 0.75,
    }  # (6/7 + 0) / 2
    assert task_scores(labels.copy(), labels, "accuracy")["macro_f1"] == 1.0
    assert set(task_scores(np.ones(3), np.ones(3), "pearson")) == {"pearson"}
