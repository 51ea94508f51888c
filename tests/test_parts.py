"""Canonical parts on tiny random bert / llama / gpt2 checkpoints: naming, copies, freezing, reinit, groups."""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import make_tiny_checkpoint
from torch import nn

from embedxfer.errors import PartError
from embedxfer.parts import (
    GROUPS,
    backbone_of,
    copy_part,
    family_of,
    freeze_parts,
    get_part,
    num_layers,
    param_groups,
    part_names,
    permute_layers,
    reinit_layers,
    unfreeze_parts,
)

FAMILIES = ("bert", "llama", "gpt2")


def load(tiny_checkpoints, family: str) -> nn.Module:
    from transformers import AutoModel

    return AutoModel.from_pretrained(tiny_checkpoints[family])


class Wrapper(nn.Module):
    """Shape of our future task wrappers: new input layer, pretrained backbone, new head."""

    def __init__(self, backbone: nn.Module, hidden: int = 32) -> None:
        super().__init__()
        self.input_proj = nn.Linear(3, hidden)
        self.backbone = backbone
        self.head = nn.Linear(hidden, 2)


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


@pytest.fixture(scope="module")
def bert16(tmp_path_factory):
    """A tiny bert of hidden 16 (the fixture's is 32), for shape mismatches."""
    return make_tiny_checkpoint(tmp_path_factory.mktemp("bert16") / "bert16", "bert", hidden=16)


# --- naming -------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_family_layers_and_names(tiny_checkpoints, family):
    model = load(tiny_checkpoints, family)
    assert family_of(model) == family
    assert backbone_of(model) is model
    assert num_layers(model) == 2
    names = part_names(model)
    layer_parts = [f"layers.{i}.{k}" for i in range(2) for k in ("attn", "mlp", "norm")]
    expected = {
        "bert": ["embed.tokens", "embed.positions", "embed.types", "embed.norm", *layer_parts, "pooler"],
        "llama": ["embed.tokens", *layer_parts, "final_norm"],
        "gpt2": ["embed.tokens", "embed.positions", *layer_parts, "final_norm"],
    }[family]
    assert names == expected


@pytest.mark.parametrize("family", FAMILIES)
def test_every_backbone_parameter_in_exactly_one_part(tiny_checkpoints, family):
    model = load(tiny_checkpoints, family)
    owners: dict[int, list[str]] = {}
    for name in part_names(model):
        for param in get_part(model, name).values():
            owners.setdefault(id(param), []).append(name)
    for pname, param in model.named_parameters():
        assert len(owners.get(id(param), [])) == 1, (pname, owners.get(id(param)))
    assert len(owners) == len(list(model.parameters()))


def test_part_contents(tiny_checkpoints):
    bert, llama, gpt2 = (load(tiny_checkpoints, f) for f in FAMILIES)
    assert list(get_part(bert, "embed.tokens")) == ["weight"]
    assert get_part(bert, "embed.tokens")["weight"] is bert.embeddings.word_embeddings.weight
    assert list(get_part(bert, "layers.1.norm")) == [
        "attention.output.LayerNorm.weight",
        "attention.output.LayerNorm.bias",
        "output.LayerNorm.weight",
        "output.LayerNorm.bias",
    ]
    assert list(get_part(llama, "layers.0.norm")) == ["input_layernorm.weight", "post_attention_layernorm.weight"]
    assert list(get_part(gpt2, "layers.0.norm")) == ["ln_1.weight", "ln_1.bias", "ln_2.weight", "ln_2.bias"]
    assert list(get_part(gpt2, "layers.0.mlp")) == [
        "mlp.c_fc.weight",
        "mlp.c_fc.bias",
        "mlp.c_proj.weight",
        "mlp.c_proj.bias",
    ]
    assert get_part(llama, "final_norm")["weight"] is llama.norm.weight
    assert get_part(gpt2, "final_norm")["bias"] is gpt2.ln_f.bias


def test_local_names_stable_within_family(tiny_checkpoints, bert16):
    from transformers import AutoModel

    small, wide = AutoModel.from_pretrained(bert16), load(tiny_checkpoints, "bert")
    assert part_names(small) == part_names(wide)
    for name in part_names(small):
        assert list(get_part(small, name)) == list(get_part(wide, name))


def test_wrappers_resolve_to_their_backbone(tiny_checkpoints):
    from transformers import AutoConfig, BertForSequenceClassification, GPT2LMHeadModel, LlamaForCausalLM

    classes = {"bert": BertForSequenceClassification, "llama": LlamaForCausalLM, "gpt2": GPT2LMHeadModel}
    for family, cls in classes.items():
        hf = cls(AutoConfig.from_pretrained(tiny_checkpoints[family]))
        base = {"bert": "bert", "llama": "model", "gpt2": "transformer"}[family]
        assert backbone_of(hf) is getattr(hf, base)
        assert family_of(hf) == family
        wrapped = Wrapper(hf)
        assert backbone_of(wrapped) is getattr(hf, base)
        assert part_names(wrapped) == part_names(getattr(hf, base)) + ["head"]
        assert get_part(wrapped, "head")["weight"] is wrapped.head.weight


def test_unknown_parts_say_why(tiny_checkpoints):
    llama = load(tiny_checkpoints, "llama")
    with pytest.raises(PartError, match="rotary"):
        get_part(llama, "embed.positions")
    with pytest.raises(PartError, match="layer index 7 is out of range, valid indices are 0 to 1"):
        get_part(llama, "layers.7.attn")
    with pytest.raises(PartError, match="not a canonical part name"):
        get_part(llama, "decoder")
    with pytest.raises(PartError, match="bert, llama, gpt2"):
        family_of(nn.Linear(2, 2))


# --- copies -------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_copying_every_part_reproduces_the_model(tiny_checkpoints, family):
    src = load(tiny_checkpoints, family)
    dst = copy.deepcopy(src)
    with torch.no_grad():
        for param in dst.parameters():
            param.zero_()
    for name in part_names(src):
        copy_part(src, dst, name)
    for (name, a), b in zip(src.state_dict().items(), dst.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_copy_to_another_layer(tiny_checkpoints):
    model = load(tiny_checkpoints, "bert")
    copy_part(model, model, "layers.0.mlp", dst_name="layers.1.mlp")
    assert torch.equal(model.encoder.layer[1].output.dense.weight, model.encoder.layer[0].output.dense.weight)


def test_copy_shape_mismatch_names_the_tensor(tiny_checkpoints, bert16):
    from transformers import AutoModel

    wide, small = load(tiny_checkpoints, "bert"), AutoModel.from_pretrained(bert16)
    before = snapshot(small)
    with pytest.raises(PartError) as err:
        copy_part(wide, small, "embed.tokens")
    assert str(err.value) == "embed.tokens: source weight is (30, 32) but target is (30, 16)."
    with pytest.raises(PartError, match=r"source attention.self.query.bias is \(32\) but target is \(16\)"):
        copy_part(wide, small, "layers.0.attn")
    assert all(torch.equal(before[n], p) for n, p in small.named_parameters())


def test_copy_is_all_or_nothing(tiny_checkpoints):
    src = load(tiny_checkpoints, "bert")
    dst = copy.deepcopy(src)
    dst.encoder.layer[0].output.dense = nn.Linear(48, 32)  # mismatches after intermediate.dense, which fits
    with torch.no_grad():
        dst.encoder.layer[0].intermediate.dense.weight.zero_()
    with pytest.raises(PartError, match=r"output.dense.weight is \(32, 64\) but target is \(32, 48\)"):
        copy_part(src, dst, "layers.0.mlp")
    assert dst.encoder.layer[0].intermediate.dense.weight.abs().sum() == 0


def test_copy_across_families_where_the_part_maps(tiny_checkpoints):
    from transformers import LlamaConfig, LlamaModel

    bert, gpt2 = load(tiny_checkpoints, "bert"), load(tiny_checkpoints, "gpt2")
    copy_part(bert, gpt2, "embed.positions")  # both (64, 32)
    assert torch.equal(gpt2.wpe.weight, bert.embeddings.position_embeddings.weight)
    llama = LlamaModel(LlamaConfig(vocab_size=30, hidden_size=32, num_hidden_layers=1, num_attention_heads=4))
    copy_part(bert, llama, "embed.tokens")
    assert torch.equal(llama.embed_tokens.weight, bert.embeddings.word_embeddings.weight)
    with pytest.raises(PartError, match="lay this part out differently.*source-only parameters: attention.self"):
        copy_part(bert, gpt2, "layers.0.attn")
    with pytest.raises(PartError, match="no part 'final_norm'"):
        copy_part(gpt2, bert, "final_norm")


# --- freezing and groups ------------------------------------------------------------------------


def test_freeze_and_unfreeze_parts_globs_and_groups(tiny_checkpoints):
    model = load(tiny_checkpoints, "bert")
    freeze_parts(model, ["embed.tokens", "layers.*.attn"])
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert "embeddings.word_embeddings.weight" in frozen
    assert "encoder.layer.1.attention.self.key.bias" in frozen
    assert "encoder.layer.1.attention.output.LayerNorm.weight" not in frozen
    assert len(frozen) == 1 + 2 * 8
    unfreeze_parts(model, "layers.1.attn")
    assert model.encoder.layer[1].attention.self.query.weight.requires_grad
    assert not model.encoder.layer[0].attention.self.query.weight.requires_grad
    freeze_parts(model, "layernorm")
    assert not model.embeddings.LayerNorm.weight.requires_grad
    assert not model.encoder.layer[0].output.LayerNorm.bias.requires_grad
    with pytest.raises(PartError, match="No part or group matches 'encoder'"):
        freeze_parts(model, ["encoder"])


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("wrapped", [False, True])
def test_param_groups_partition_the_model(tiny_checkpoints, family, wrapped):
    backbone = load(tiny_checkpoints, family)
    model = Wrapper(backbone) if wrapped else backbone
    groups = param_groups(model)
    assert list(groups) == list(GROUPS)
    owners: dict[int, list[str]] = {}
    for group, params in groups.items():
        for param in params:
            owners.setdefault(id(param), []).append(group)
    assert all(len(owners.get(id(p), [])) == 1 for p in model.parameters())
    assert len(owners) == len(list(model.parameters()))
    ids = {group: {id(p) for p in params} for group, params in groups.items()}
    assert id(get_part(model, "embed.tokens")["weight"]) in ids["input"]
    assert all(id(p) in ids["layernorm"] for p in get_part(model, "layers.1.norm").values())
    assert all(id(p) in ids["attention"] for p in get_part(model, "layers.0.attn").values())
    assert all(id(p) in ids["mlp"] for p in get_part(model, "layers.0.mlp").values())
    assert (len(groups["positions"]) == 0) == (family == "llama")
    if wrapped:
        assert {id(model.input_proj.weight), id(model.input_proj.bias)} <= ids["input"]
        assert {id(model.head.weight), id(model.head.bias)} <= ids["output"]
    if family == "bert":
        assert id(backbone.pooler.dense.weight) in ids["output"]
        assert id(backbone.embeddings.token_type_embeddings.weight) in ids["input"]


def test_param_groups_hf_task_models(tiny_checkpoints):
    from transformers import AutoConfig, BertForSequenceClassification, GPT2LMHeadModel

    gpt2 = GPT2LMHeadModel(AutoConfig.from_pretrained(tiny_checkpoints["gpt2"]))
    groups = param_groups(gpt2)
    assert gpt2.lm_head.weight is gpt2.transformer.wte.weight  # tied: counted once, as input
    assert sum(len(v) for v in groups.values()) == len(list(gpt2.parameters()))
    assert groups["output"] == []
    bert = BertForSequenceClassification(AutoConfig.from_pretrained(tiny_checkpoints["bert"]))
    output = {id(p) for p in param_groups(bert)["output"]}
    assert {id(bert.classifier.weight), id(bert.bert.pooler.dense.weight)} <= output
    freeze_parts(bert, ["attention", "mlp"])
    trainable = {n for n, p in bert.named_parameters() if p.requires_grad}
    assert "classifier.weight" in trainable and "bert.encoder.layer.0.output.LayerNorm.weight" in trainable
    assert "bert.encoder.layer.0.output.dense.weight" not in trainable


# --- reinit -------------------------------------------------------------------------------------

WEIGHT_MODULES = {
    "bert": lambda block: [
        block.attention.self.query,
        block.attention.self.key,
        block.attention.self.value,
        block.attention.output.dense,
        block.intermediate.dense,
        block.output.dense,
    ],
    "llama": lambda block: [*block.self_attn.children(), block.mlp.gate_proj, block.mlp.up_proj, block.mlp.down_proj],
    "gpt2": lambda block: [block.attn.c_attn, block.attn.c_proj, block.mlp.c_fc, block.mlp.c_proj],
}


def blocks(model: nn.Module) -> nn.ModuleList:
    return model.get_submodule({"bert": "encoder.layer", "llama": "layers", "gpt2": "h"}[family_of(model)])


@pytest.mark.parametrize("family", FAMILIES)
def test_reinit_semantics(tiny_checkpoints, family):
    model = load(tiny_checkpoints, family)
    before = snapshot(model)
    reinit_layers(model, [1], seed=0)
    weights = {id(m.weight) for m in WEIGHT_MODULES[family](blocks(model)[1])}
    norm_params = {id(p) for p in get_part(model, "layers.1.norm").values()}
    for name, param in model.named_parameters():
        if id(param) in weights:
            assert not torch.equal(param, before[name]), name
        elif id(param) in norm_params:
            expected = 1.0 if name.endswith("weight") else 0.0
            assert torch.all(param == expected), name
        else:  # biases of layer 1, layer 0, embeddings, final norm, pooler: untouched
            assert torch.equal(param, before[name]), name
    changed = torch.cat([model.get_parameter(n).flatten() for n in before if id(model.get_parameter(n)) in weights])
    assert abs(changed.std().item() - 0.02) < 0.002


def test_reinit_keep_layernorm_and_bias_options(tiny_checkpoints):
    model = load(tiny_checkpoints, "bert")
    before = snapshot(model)
    reinit_layers(model, 0, keep_layernorm=True, reinit_bias=True, seed=1)
    block = model.encoder.layer[0]
    assert torch.equal(block.output.LayerNorm.weight, before["encoder.layer.0.output.LayerNorm.weight"])
    for linear in WEIGHT_MODULES["bert"](block):
        assert torch.all(linear.bias == 0)
    llama = load(tiny_checkpoints, "llama")
    with torch.no_grad():
        llama.layers[0].input_layernorm.weight.mul_(3.0)
    reinit_layers(llama, [0])
    assert torch.all(llama.layers[0].input_layernorm.weight == 1.0)


def test_reinit_paper_code_gives_tiny_truncated_weights(tiny_checkpoints):
    model = load(tiny_checkpoints, "bert")
    reinit_layers(model, [0, 1], init="paper-code", seed=0)
    values = torch.cat([m.weight.flatten() for b in model.encoder.layer for m in WEIGHT_MODULES["bert"](b)])
    assert values.abs().max().item() <= 0.0008
    assert abs(values.std().item() - 4.62e-4) < 0.2e-4
    assert abs(values.mean().item()) < 2e-5


def test_reinit_module_default(tiny_checkpoints):
    model = load(tiny_checkpoints, "bert")
    bias = model.encoder.layer[0].intermediate.dense.bias.detach().clone()
    reinit_layers(model, [0], init="module-default", seed=0)
    dense = model.encoder.layer[0].intermediate.dense
    bound = 1 / dense.in_features**0.5  # kaiming_uniform(a=sqrt(5)) of nn.Linear
    assert dense.weight.abs().max().item() <= bound
    assert dense.weight.abs().max().item() > 0.8 * bound
    assert torch.equal(dense.bias, bias)
    gpt2 = load(tiny_checkpoints, "gpt2")
    reinit_layers(gpt2, [0, 1], init="module-default", seed=0)
    values = torch.cat([gpt2.h[i].mlp.c_fc.weight.flatten() for i in range(2)])
    assert abs(values.std().item() - 0.02) < 0.002


@pytest.mark.parametrize("init", ["normal-0.02", "paper-code", "module-default"])
def test_reinit_seeded_per_block(tiny_checkpoints, init):
    one, two, three = (load(tiny_checkpoints, "llama") for _ in range(3))
    reinit_layers(one, [1], init=init, seed=5)
    reinit_layers(two, [0, 1], init=init, seed=5)
    reinit_layers(three, [1], init=init, seed=6)
    weight = lambda m: m.layers[1].mlp.down_proj.weight  # noqa: E731
    assert torch.equal(weight(one), weight(two))
    assert not torch.equal(weight(one), weight(three))


def test_reinit_without_seed_follows_global_rng(tiny_checkpoints):
    one, two = load(tiny_checkpoints, "gpt2"), load(tiny_checkpoints, "gpt2")
    torch.manual_seed(3)
    reinit_layers(one, [0])
    torch.manual_seed(3)
    reinit_layers(two, [0])
    assert torch.equal(one.h[0].attn.c_attn.weight, two.h[0].attn.c_attn.weight)


def test_reinit_through_wrapper_and_empty_list(tiny_checkpoints):
    model = Wrapper(load(tiny_checkpoints, "bert"))
    before = snapshot(model)
    reinit_layers(model, [])
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())
    reinit_layers(model, [1], seed=0)
    assert not torch.equal(
        model.backbone.encoder.layer[1].output.dense.weight, before["backbone.encoder.layer.1.output.dense.weight"]
    )
    assert torch.equal(model.head.weight, before["head.weight"])


def test_reinit_errors(tiny_checkpoints):
    model = load(tiny_checkpoints, "bert")
    before = snapshot(model)
    with pytest.raises(PartError, match="Layer index 2 is out of range: this bert model has 2 layers, so valid"):
        reinit_layers(model, [0, 2])
    with pytest.raises(PartError, match="Layer index -1"):
        reinit_layers(model, [-1])
    with pytest.raises(PartError, match="Layer index '1'"):
        reinit_layers(model, ["1"])
    with pytest.raises(PartError, match="Unknown init 'xavier'.*normal-0.02, paper-code, module-default"):
        reinit_layers(model, [0], init="xavier")
    with pytest.raises(PartError, match="seed"):
        reinit_layers(model, [0], seed=-1)
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())


def test_permute_layers(tiny_checkpoints):
    model = load(tiny_checkpoints, "llama")
    before = snapshot(model)
    permute_layers(model, [1, 0])
    assert torch.equal(model.layers[0].self_attn.q_proj.weight, before["layers.1.self_attn.q_proj.weight"])
    assert torch.equal(model.layers[1].mlp.up_proj.weight, before["layers.0.mlp.up_proj.weight"])
    assert model.layers[1].self_attn.layer_idx == 1
    with pytest.raises(PartError, match="not a permutation of 0..1"):
        permute_layers(model, [0, 0])


def test_validate_part_names_checks_without_a_model():
    from embedxfer.parts import validate_part_names

    validate_part_names(["embed.tokens", "layers.*.attn", "layers.5.mlp", "attention"], family="bert", num_layers=6)
    with pytest.raises(PartError, match="layers.6.mlp"):
        validate_part_names(["layers.6.mlp"], family="bert", num_layers=6)
    with pytest.raises(PartError, match="embed.positions"):
        validate_part_names(["embed.positions"], family="llama", num_layers=2)
    with pytest.raises(PartError, match="not 'albert'"):
        validate_part_names(["embed.tokens"], family="albert", num_layers=2)
