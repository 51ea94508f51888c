"""Any checkpoint a researcher brings: a tiny random model of every family (from its config class alone) through
the kinds that read hidden states or the token table, and the parts-by-name kinds' refusals, as one matrix."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from families import ENCODER_DECODERS, FAMILIES, make_family_checkpoint
from page_support import run_plan
from training_support import assert_only_trainable_parameters_move

from embedxfer.cli import main
from embedxfer.errors import CheckpointError, ConfigError
from embedxfer.experiments import plan_experiment
from embedxfer.experiments.registry import list_kinds
from embedxfer.features import layer_features
from embedxfer.porting.techniques import SUPPORTED

#: families of tests/families.py without a part map (albert shares its block weights)
UNMAPPED = ("albert",)
#: families whose parts embedxfer maps by name (parts.FAMILIES): layer_reinit and frozen_transformer run on these
PART_FAMILIES = tuple(f for f in FAMILIES if f not in UNMAPPED)
#: families module_porting serves (what the pinned adapters library attaches on them)
PORTING_FAMILIES = tuple(SUPPORTED)
#: kinds that need parts by name (a checkpoint rule): every one of them refuses albert
PARTS_KINDS = tuple(kind.name for kind in list_kinds() if kind.checkpoint_rule is not None)


@pytest.fixture(scope="session")
def family_checkpoints(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("families")
    return {family: str(make_family_checkpoint(root / family, family)) for family in FAMILIES}


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDXFER_CACHE", str(tmp_path / "cache"))


def _tier_one_configs(checkpoint: str, other: str) -> dict[str, dict]:
    """The smallest config of each kind that only reads hidden states or the token table (`other`: a second
    checkpoint for the kinds that compare two)."""
    return {
        "probing": {"kind": "probing", "checkpoints": [checkpoint], "train_size": 40, "eval_size": 20, "seeds": [0]},
        "layer_map": {"kind": "layer_map", "checkpoint": checkpoint, "examples": 30, "method": "pca", "seeds": [0]},
        "embedding_map": {"kind": "embedding_map", "checkpoints": [checkpoint], "method": "pca", "seeds": [0]},
        "embedding_similarity": {"kind": "embedding_similarity", "checkpoints": [checkpoint, other], "seeds": [0]},
        "embedding_transfer": {
            "kind": "embedding_transfer",
            "sources": [checkpoint],
            "baselines": [],
            "train_size": 40,
            "eval_size": 20,
            "seeds": [0],
        },
    }


def _parts_configs(checkpoint: str, other: str) -> dict[str, dict]:
    return {
        "layer_reinit": {"kind": "layer_reinit", "checkpoint": checkpoint, "seeds": [0]},
        "frozen_transformer": {"kind": "frozen_transformer", "checkpoint": checkpoint, "seeds": [0]},
        "module_porting": {"kind": "module_porting", "origin": checkpoint, "receivers": [other], "seeds": [0]},
    }


@pytest.mark.parametrize("family", FAMILIES)
def test_features_have_the_right_shape_and_the_cache_equals_a_fresh_forward_pass(
    family, family_checkpoints, cache, tmp_path
):
    from embedxfer.checkpoints import arch_info, load_checkpoint
    from embedxfer.tasks import load_task

    checkpoint = family_checkpoints[family]
    task = load_task("tweets-binary")
    rows = np.arange(6)
    first = layer_features(checkpoint, task, "train", rows, max_length=16)
    assert first.computed == 6 and first.features.shape == (6, 3, 32)
    again = layer_features(checkpoint, task, "train", rows, max_length=16)
    assert again.cached == 6
    np.testing.assert_array_equal(again.features, first.features)
    model, tokenizer, info = load_checkpoint(checkpoint)
    assert arch_info(checkpoint).family == info.family == family
    assert info.is_encoder_decoder == (family in ENCODER_DECODERS)
    encoded = tokenizer(task.train.inputs[2], truncation=True, max_length=16, return_tensors="pt")
    with torch.no_grad():  # one example: no padding, so the mean over its tokens is the pooled feature
        states = model(
            input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"], output_hidden_states=True
        ).hidden_states
    expected = np.stack([h[0].mean(0).numpy() for h in states])
    np.testing.assert_allclose(first.features[2], expected, rtol=1e-4, atol=1e-5)
    assert tuple(model.get_input_embeddings().weight.shape) == (info.vocab_size, 32)  # the token table


@pytest.mark.parametrize("family", FAMILIES)
def test_every_kind_plans_or_refuses_in_one_sentence(family, family_checkpoints):
    checkpoint = family_checkpoints[family]
    other = family_checkpoints["gpt2" if family == "bert" else "bert"]
    for kind, config in _tier_one_configs(checkpoint, other).items():
        assert plan_experiment(config).trials, kind
    for kind, config in _parts_configs(checkpoint, other).items():
        if kind == "module_porting" and family in PORTING_FAMILIES:
            continue  # a pair of one family: tests/test_module_porting.py
        if kind != "module_porting" and family in PART_FAMILIES:
            assert plan_experiment(config).trials, (kind, family)
            continue
        with pytest.raises(ConfigError) as refused:
            plan_experiment(config)
        message = str(refused.value)
        assert f"{kind} " in message and f"{checkpoint} is a" in message and f" {family} model" in message, message
        assert "Kinds that run on it: finetune, " in message and ", probing, " in message, message
        assert "embedding_map" in message, message


@pytest.mark.parametrize("family", ["roberta", "qwen2", "t5"])
def test_probing_runs_end_to_end_on_another_family(family, family_checkpoints, embedxfer_home, cache):
    from embedxfer.store import Store

    config = _tier_one_configs(family_checkpoints[family], "")["probing"] | {"max_length": 16}
    result = run_plan(Store(), plan_experiment(config))
    assert {t["status"] for t in result["trials"]} == {"completed"}
    assert sorted({t["params"]["layer"] for t in result["trials"]}) == [0, 1, 2]


def test_the_catalog_lists_each_family_with_the_kinds_it_runs(family_checkpoints, capsys, monkeypatch):
    import os

    monkeypatch.setenv("EMBEDXFER_EXTRA_CHECKPOINTS", os.pathsep.join(family_checkpoints.values()))
    assert main(["checkpoints", "--json"]) == 0
    rows = {row["id"]: row for row in json.loads(capsys.readouterr().out)}
    for family, checkpoint in family_checkpoints.items():
        row = rows[checkpoint]
        assert row["available"] and row["family"] == family, row
        refused = {kind for kind, why in row["kinds"].items() if why}
        expected = (
            set(PARTS_KINDS) if family in UNMAPPED else set() if family in PORTING_FAMILIES else {"module_porting"}
        )
        assert refused == expected, (family, row["kinds"])
    assert main(["checkpoints"]) == 0
    out = capsys.readouterr().out
    t5 = family_checkpoints["t5"]
    assert f"{t5} runs finetune, layer_reinit, probing" in out, out
    assert (
        f"adapters attaches its modules to a whole t5 encoder-decoder, and embedxfer runs t5 through its encoder "
        f"stack alone; {t5} is a t5 model." in out
    )
    assert f"{family_checkpoints['albert']} is an albert model." in out


def test_a_family_transformers_does_not_know_is_one_sentence(family_checkpoints, tmp_path):
    import shutil

    from embedxfer.checkpoints import arch_info

    for name, extra, says in (
        ("unknown", {"model_type": "not-a-family"}, "does not know; pick a checkpoint of a family transformers ships"),
        ("custom", {"model_type": "my-net", "auto_map": {"AutoModel": "x.MyNet"}}, "trust_remote_code"),
    ):
        folder = tmp_path / name
        shutil.copytree(family_checkpoints["bert"], folder)
        config = json.loads((folder / "config.json").read_text()) | extra
        (folder / "config.json").write_text(json.dumps(config))
        with pytest.raises(CheckpointError, match=says):
            arch_info(str(folder))


def test_the_checkpoints_page_says_which_kinds_each_family_runs(app_env, family_checkpoints, monkeypatch):
    from page_support import open_page, read_catalog

    from embedxfer.compat import pair_compat

    roberta, neox = family_checkpoints["roberta"], family_checkpoints["gpt_neox"]  # adapters has no gpt_neox
    monkeypatch.setenv("EMBEDXFER_EXTRA_CHECKPOINTS", f"{roberta}:{neox}")
    at = open_page("app_pages/checkpoints.py")
    catalog = read_catalog(at)
    assert "layer_reinit" in catalog.loc[neox, "kinds"] and "module_porting" not in catalog.loc[neox, "kinds"]
    assert "module_porting" in catalog.loc[roberta, "kinds"]
    refusals = "\n".join(str(m.value) for m in at.markdown)
    assert f"**{neox}**: module_porting attaches and ports PEFT modules by layer path" in refusals
    # the compatibility matrix follows the same rule
    from embedxfer.checkpoints import arch_info

    pair = pair_compat(arch_info(neox), arch_info("minilm-l6"))
    assert pair.support["module_porting"].level == "no" and "is a gpt_neox model" in pair.support["module_porting"].note
    assert pair.support["copy layers"].level == "no"  # families differ
    t5_pair = pair_compat(arch_info(family_checkpoints["t5"]), arch_info("minilm-l6")).support["module_porting"]
    assert t5_pair.level == "no" and "is a t5 model" in t5_pair.note


def test_plans_warn_about_first_token_pooling_on_causal_models_and_name_the_encoder(family_checkpoints):
    qwen2, t5, bert = (family_checkpoints[f] for f in ("qwen2", "t5", "bert"))
    notes = plan_experiment({"kind": "probing", "checkpoints": [qwen2, bert], "pooling": "first"}).notes
    assert any(f"causal model {qwen2} computes from that token alone" in n for n in notes), notes
    assert not any(bert in n for n in notes), notes  # a bidirectional encoder's first token sees the whole input
    notes = plan_experiment({"kind": "probing", "checkpoints": [qwen2]}).notes  # pooling left unset: mean
    assert f"{qwen2} is causal: pooled by the mean of each example's token states." in notes, notes
    notes = plan_experiment({"kind": "layer_map", "checkpoint": t5, "method": "pca"}).notes
    assert any(f"{t5} is an encoder-decoder (t5): its encoder's layers are used" in n for n in notes), notes


def test_finetune_runs_full_on_any_family_and_freezing_needs_a_part_map(family_checkpoints, embedxfer_home):
    from embedxfer.store import Store

    t5 = family_checkpoints["t5"]
    small = {"kind": "finetune", "checkpoint": t5, "train_size": 16, "eval_size": 16, "max_length": 16, "seeds": [0]}
    config = small | {"freeze": [], "freeze_variants": [], "epochs": 1}
    result = run_plan(Store(), plan_experiment(config))
    assert [t["status"] for t in result["trials"]] == ["completed"]
    # t5's parts are named on its encoder stack, the model embedxfer loads
    assert plan_experiment(config | {"freeze_variants": [["embed.tokens", "layers.0.*"]]}).trials
    albert = small | {"checkpoint": family_checkpoints["albert"], "freeze_variants": [["embed.tokens"]]}
    with pytest.raises(ConfigError, match=r"is an albert model, so finetune runs on it as full finetuning"):
        plan_experiment(albert)


@pytest.mark.parametrize("family", PART_FAMILIES)
def test_layer_reinit_changes_exactly_the_named_block(family, family_checkpoints):
    from embedxfer.checkpoints import fresh_model
    from embedxfer.parts import reinit_layers
    from embedxfer.parts.resolve import loaded_spec

    model = fresh_model(family_checkpoints[family]).model
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    reinit_layers(model, [1], seed=0)
    changed = {name for name, p in model.named_parameters() if not torch.equal(before[name], p)}
    block = f"{loaded_spec(family).layers}.1."
    assert changed and all(name.startswith(block) for name in changed), sorted(changed)
    matrices = {name for name, p in model.named_parameters() if name.startswith(block) and p.dim() == 2}
    assert matrices <= changed, sorted(matrices - changed)  # every weight matrix of the block was drawn anew


@pytest.mark.parametrize("family", PART_FAMILIES)
def test_fpt_trains_exactly_the_chosen_groups(family, family_checkpoints):
    from embedxfer.checkpoints import fresh_model
    from embedxfer.experiments.frozen_transformer.model import FPTModel, OutputSpec, set_trainable
    from embedxfer.parts import param_groups
    from embedxfer.parts.resolve import loaded_spec

    loaded = fresh_model(family_checkpoints[family])
    model = FPTModel(loaded.model, 32, OutputSpec(classes=2, positions=5, output_tokens=5), input_dim=1, vocab=None)
    chosen = ["input", "output", "layernorm", "positions"]
    counts = set_trainable(model, chosen)
    for group, params in param_groups(model).items():
        assert group in chosen or not any(p.requires_grad for p in params), group
    assert counts["attention"] == counts["mlp"] == 0 and counts["output"] > 0 and counts["input"] > 0
    assert (counts["positions"] > 0) == ("embed.positions" in loaded_spec(family).embed)
    assert_only_trainable_parameters_move(model, "bit-xor?n_train=32&n_val=16&n_test=16", steps=3)


def test_albert_is_refused_for_parts_because_its_layers_share_weights(family_checkpoints):
    with pytest.raises(ConfigError, match="albert shares one set of block weights across all its layers"):
        plan_experiment({"kind": "layer_reinit", "checkpoint": family_checkpoints["albert"], "seeds": [0]})


#: module_porting across families whose blocks keep a module at the same paths (porting.techniques.PORT_GROUPS)
CROSS_PAIRS = [("bert", "roberta"), ("roberta", "electra"), ("xlm-roberta", "bert"), ("llama", "mistral")]


@pytest.mark.parametrize(
    ("origin", "receiver"), [(f, f) for f in PORTING_FAMILIES] + CROSS_PAIRS, ids=lambda family: family
)
def test_every_supported_technique_ports_completely(origin, receiver, family_checkpoints, tmp_path):
    from embedxfer.checkpoints import fresh_model
    from embedxfer.porting import module_spec, resolve_layer_map
    from embedxfer.porting.modules import attach, module_parameters
    from embedxfer.porting.port import port_module

    receiver_folder = make_family_checkpoint(tmp_path / "receiver", receiver, seed=1)  # another host
    for technique in SUPPORTED[origin]:
        assert technique in SUPPORTED[receiver]
        spec = module_spec(technique, reduction_factor=2) if technique == "compacter" else module_spec(technique)
        a, b = fresh_model(family_checkpoints[origin]), fresh_model(str(receiver_folder))
        attach(a.model, spec, origin, seed=0)
        attach(b.model, spec, receiver, seed=1)
        source = {name: p.detach() for name, p in module_parameters(a.model, origin).items()}
        target = module_parameters(b.model, receiver)
        report = port_module(
            source,
            target,
            resolve_layer_map("spread", 2, 2),
            origin=origin,
            receiver=receiver,
            technique=technique,
            origin_layers=2,
            receiver_layers=2,
        )
        assert report.counts()["ported"] == len(source) == len(target) > 0, (technique, report.counts())
        assert all(torch.equal(target[name], source[name]) for name in source), technique


def test_porting_across_families_plans_where_blocks_match_and_says_why_not_elsewhere(family_checkpoints, tmp_path):
    bert, roberta, gpt2 = (family_checkpoints[f] for f in ("bert", "roberta", "gpt2"))
    base = {"kind": "module_porting", "techniques": ["lora"], "seeds": [0]}
    assert plan_experiment(base | {"origin": bert, "receivers": [roberta]}).trials
    with pytest.raises(ConfigError, match=r"or of families whose blocks match \(bert <-> electra <-> roberta"):
        plan_experiment(base | {"origin": bert, "receivers": [gpt2]})
    qwen2, other = family_checkpoints["qwen2"], str(make_family_checkpoint(tmp_path / "qwen2", "qwen2", seed=1))
    assert plan_experiment(base | {"origin": qwen2, "receivers": [other]}).trials
    with pytest.raises(ConfigError, match="Technique 'prefix_tuning' does not support"):
        plan_experiment(base | {"techniques": ["prefix_tuning"], "origin": qwen2, "receivers": [other]})


def test_a_whole_t5_names_both_stacks_and_the_loaded_encoder_names_one(family_checkpoints):
    from transformers import T5Model

    from embedxfer.checkpoints import fresh_model
    from embedxfer.parts import describe_parts, get_part, param_groups, part_names, validate_part_names
    from embedxfer.parts.resolve import missing_part_error

    whole = T5Model.from_pretrained(family_checkpoints["t5"])
    names = part_names(whole)
    assert describe_parts(names) == (
        "embed.tokens, layers.{0..1}.{attn,mlp,norm}, decoder.layers.{0..1}.{attn,mlp,norm}, final_norm, "
        "decoder.final_norm"
    )
    assert any(key.startswith("layer.1.EncDecAttention.") for key in get_part(whole, "decoder.layers.1.attn"))
    assert list(get_part(whole, "layers.1.mlp")) == [
        "layer.1.DenseReluDense.wi.weight",
        "layer.1.DenseReluDense.wo.weight",
    ]
    grouped = {id(p) for params in param_groups(whole).values() for p in params}
    assert grouped == {id(p) for p in whole.parameters()}  # every parameter of both stacks is in one group
    encoder = fresh_model(family_checkpoints["t5"]).model  # what embedxfer loads: the encoder stack
    assert "decoder.final_norm" not in part_names(encoder) and "layers.1.attn" in part_names(encoder)
    assert "one t5 stack" in str(missing_part_error(encoder, "decoder.final_norm"))
    assert "relative attention bias inside block 0" in str(missing_part_error(encoder, "embed.positions"))
    validate_part_names(["layers.*.attn", "final_norm"], family="t5", num_layers=2)


def test_deberta_v3_keeps_its_relative_position_table_as_parts(family_checkpoints):
    from embedxfer.checkpoints import fresh_model
    from embedxfer.parts import param_groups, part_group, part_names

    model = fresh_model(family_checkpoints["deberta-v2"]).model
    names = part_names(model)
    assert {"embed.relative_positions", "embed.relative_norm"} <= set(names) and "embed.positions" not in names
    assert part_group("embed.relative_positions") == "positions" and part_group("embed.relative_norm") == "layernorm"
    positions = param_groups(model)["positions"]
    assert [tuple(p.shape) for p in positions] == [tuple(model.encoder.rel_embeddings.weight.shape)]


def test_a_narrow_token_table_is_read_at_its_own_width(tmp_path, family_checkpoints, embedxfer_home, cache):
    """electra-small's table is 128 wide under 256-wide blocks (and opt-350m's 512 under 1024): the token-table
    kinds work at the table's width, not the blocks'."""
    from embedxfer.checkpoints import arch_info
    from embedxfer.compat import pair_compat
    from embedxfer.store import Store

    narrow = str(make_family_checkpoint(tmp_path / "electra16", "electra", embedding_size=16))
    info = arch_info(narrow)
    assert (info.hidden_size, info.table_width) == (32, 16)
    assert arch_info(family_checkpoints["bert"]).table_width == 32
    pair = pair_compat(info, arch_info(family_checkpoints["bert"])).support
    assert "widths 16 and 32" in pair["embedding_similarity"].note
    assert "compare at dim pca:16" in pair["embedding_transfer"].note
    config = _tier_one_configs(narrow, family_checkpoints["bert"])["embedding_transfer"] | {"max_length": 16}
    with pytest.raises(ConfigError, match=r"wider than .*electra16's 16-wide embedding"):
        plan_experiment(config | {"dim": "pca:24"})
    result = run_plan(Store(), plan_experiment(config))
    assert {t["status"] for t in result["trials"]} == {"completed"}
    similarity = _tier_one_configs(narrow, family_checkpoints["bert"])["embedding_similarity"]
    result = run_plan(Store(), plan_experiment(similarity))
    assert {t["status"] for t in result["trials"]} == {"completed"}
