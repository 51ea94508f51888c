"""Canonical part names and the per-family resolvers that map them to modules.

A part name means the same thing in every family (`embed.tokens`, `layers.3.attn`, `final_norm`);
one `FamilySpec` per family (bert, llama, gpt2 and the others listed in FAMILIES) says which modules hold it. A
part is an ordered dict `{local_name: nn.Parameter}` whose local names are stable across models of one family, so
two bert models (or a bert and a llama for `embed.tokens`) can swap it after a shape check.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import TYPE_CHECKING

from embedxfer.errors import PartError
from embedxfer.parts.families import FAMILIES, FamilySpec

if TYPE_CHECKING:
    from torch import nn

#: The parameter groups of a model (FPT, Lu et al. 2021 section 3: which groups are trained).
GROUPS = ("input", "output", "layernorm", "positions", "attention", "mlp")

#: Attributes of a wrapper whose parameters count as the model's input side (FPT's new input layer).
INPUT_ATTRS = ("input_proj", "input_embed")

_TOP_GROUP = {
    "embed.tokens": "input",
    "embed.proj": "input",
    "out_proj": "output",
    "embed.types": "input",
    "embed.positions": "positions",
    "embed.norm": "layernorm",
    "embed.relative_positions": "positions",
    "embed.relative_norm": "layernorm",
    "final_norm": "layernorm",
    "decoder.final_norm": "layernorm",
    "conv": "mlp",
    "pooler": "output",
    "head": "output",
}
_LAYER_GROUP = {"attn": "attention", "mlp": "mlp", "norm": "layernorm"}
#: `layers.<i>.<kind>` names a block of the (encoder) stack, `decoder.layers.<i>.<kind>` one of t5's decoder stack
_LAYER_RE = re.compile(r"(decoder\.)?layers\.(0|[1-9]\d*)\.(attn|mlp|norm)")


def _find(module: nn.Module, path: str) -> nn.Module | None:
    """The submodule at a dotted path, or None where any step is missing (or set to None)."""
    for step in path.split("."):
        module = getattr(module, step, None)
        if module is None:
            return None
    return module


def wrapper_chain(model: nn.Module) -> list[nn.Module]:
    """[model, ..., backbone]: follows `.backbone` attributes and HF `base_model` (e.g. `.bert`, `.transformer`)."""
    from torch import nn

    chain = [model]
    while True:
        current = chain[-1]
        inner = getattr(current, "backbone", None)
        if not isinstance(inner, nn.Module):
            # HF models expose the wrapped base model (the attribute named by base_model_prefix) as
            # `base_model`; a base model returns itself.
            inner = getattr(current, "base_model", None)
        if not isinstance(inner, nn.Module) or any(inner is seen for seen in chain):
            return chain
        chain.append(inner)


def backbone_of(model: nn.Module) -> nn.Module:
    """The transformer base model inside `model` (the model itself when it is one)."""
    return wrapper_chain(model)[-1]


def loaded_spec(family: str) -> FamilySpec | None:
    """The layout of the model embedxfer loads for `family` (t5: its encoder stack), or None when unmapped."""
    spec = FAMILIES.get(family)
    return spec.stack or spec if spec is not None else None


def _spec_of(model: nn.Module) -> tuple[FamilySpec, nn.Module]:
    """(the family layout that fits this model, its backbone); PartError for an unmapped family."""
    backbone = backbone_of(model)
    model_type = getattr(getattr(backbone, "config", None), "model_type", None)
    if model_type not in FAMILIES:
        what = f"model type {model_type!r}" if model_type else f"a {type(backbone).__name__} without a HF config"
        raise PartError(
            f"Cannot name the parts of {what}: part names are defined for the {', '.join(FAMILIES)} families only."
        )
    spec = FAMILIES[model_type]
    if spec.stack is not None and _find(backbone, spec.layers) is None:
        spec = spec.stack
    if _find(backbone, spec.layers) is None:
        raise PartError(
            f"The {type(backbone).__name__} model has no '{spec.layers}' layer list; "
            f"pass the base model or a wrapper of a standard {model_type} model."
        )
    return spec, backbone


def family_of(model: nn.Module) -> str:
    """'bert', 'llama', 't5', ...: the resolver family of the model's backbone."""
    return _spec_of(model)[0].name


def _blocks(model: nn.Module) -> tuple[FamilySpec, nn.Module, nn.Module]:
    """(family spec, backbone, ModuleList of blocks)."""
    spec, backbone = _spec_of(model)
    return spec, backbone, _find(backbone, spec.layers)


def _decoder_blocks(spec: FamilySpec, backbone: nn.Module) -> list[nn.Module]:
    """An encoder-decoder's decoder blocks (empty for every other layout)."""
    found = _find(backbone, spec.decoder_layers) if spec.decoder_layers else None
    return list(found) if found is not None else []


def _layer_name(name: str) -> tuple[bool, int, str] | None:
    """(in the decoder stack, block index, attn|mlp|norm) for a block part name, else None."""
    match = _LAYER_RE.fullmatch(name)
    return (bool(match.group(1)), int(match.group(2)), match.group(3)) if match else None


def layer_modules(model: nn.Module) -> nn.ModuleList:
    """The backbone's ModuleList of transformer blocks (bert encoder.layer, llama layers, gpt2 h)."""
    return _blocks(model)[2]


def num_layers(model: nn.Module) -> int:
    """Number of transformer blocks in the backbone."""
    return len(layer_modules(model))


def _head_of(model: nn.Module) -> nn.Module | None:
    """The `head` module of the outermost wrapper that has one (our task-head wrappers)."""
    from torch import nn

    for wrapper in wrapper_chain(model)[:-1]:
        head = getattr(wrapper, "head", None)
        if isinstance(head, nn.Module):
            return head
    return None


def _has_params(members: list[tuple[str, nn.Module]]) -> bool:
    return any(True for _, module in members for _ in module.parameters())


def part_members(model: nn.Module, name: str) -> list[tuple[str, nn.Module]]:
    """[(local prefix, module)] making up part `name`; empty when the model lacks it."""
    spec, backbone, blocks = _blocks(model)
    if name in spec.embed or name in spec.top:
        module = _find(backbone, spec.embed.get(name) or spec.top[name])
        return [("", module)] if module is not None else []
    if name == "head":
        head = _head_of(model)
        return [("", head)] if head is not None else []
    parsed = _layer_name(name)
    if parsed is None:
        return []
    in_decoder, index, kind = parsed
    stack = _decoder_blocks(spec, backbone) if in_decoder else blocks
    if index >= len(stack):
        return []
    found = [(path, _find(stack[index], path)) for path in spec.block[kind]]
    return [(path, module) for path, module in found if module is not None]


def candidate_parts(spec: FamilySpec, encoder_layers: int, decoder_layers: int = 0) -> list[str]:
    """Every part name a model of this layout may have, in forward order (embeddings, blocks, top, head)."""
    names = list(spec.embed)
    names += [f"layers.{i}.{kind}" for i in range(encoder_layers) for kind in spec.block]
    names += [f"decoder.layers.{i}.{kind}" for i in range(decoder_layers) for kind in spec.block]
    return names + list(spec.top) + ["head"]


def part_names(model: nn.Module) -> list[str]:
    """Canonical names of the parts this model has, in forward order (embeddings, blocks, top, head)."""
    spec, backbone, blocks = _blocks(model)
    candidates = candidate_parts(spec, len(blocks), len(_decoder_blocks(spec, backbone)))
    return [name for name in candidates if _has_params(part_members(model, name))]


def describe_parts(names: list[str]) -> str:
    """Short human list: 'embed.tokens, layers.{0..11}.{attn,mlp,norm}, final_norm'."""
    pieces = [n for n in names if n.startswith("embed.")]
    for prefix in ("layers.", "decoder.layers."):
        blocks = [n for n in names if n.startswith(prefix) and _layer_name(n)]
        if blocks:
            layer_idx = sorted({_layer_name(n)[1] for n in blocks})
            kinds = [k for k in _LAYER_GROUP if any(n.endswith(f".{k}") for n in blocks)]
            pieces.append(f"{prefix}{{{layer_idx[0]}..{layer_idx[-1]}}}.{{{','.join(kinds)}}}")
    pieces += [n for n in names if not n.startswith("embed.") and not _layer_name(n)]
    return ", ".join(pieces)


def part_group(name: str) -> str:
    """The parameter group (one of GROUPS) a canonical part name belongs to."""
    parsed = _layer_name(name)
    if parsed:
        return _LAYER_GROUP[parsed[2]]
    if name in _TOP_GROUP:
        return _TOP_GROUP[name]
    raise PartError(
        f"Unknown part name {name!r}; expected embed.*, layers.<i>.attn|mlp|norm, final_norm, pooler or head."
    )


def missing_part_error(model: nn.Module, name: str) -> PartError:
    """The PartError for a part name this model does not have, saying why and what exists."""
    spec, backbone, blocks = _blocks(model)
    names = part_names(model)
    parsed = _layer_name(name)
    stack = (_decoder_blocks(spec, backbone) if parsed[0] else blocks) if parsed else blocks
    if parsed and stack and parsed[1] >= len(stack):
        why = f"layer index {parsed[1]} is out of range, valid indices are 0 to {len(stack) - 1}"
    elif name in spec.missing_hint:
        why = spec.missing_hint[name]
    elif name in _TOP_GROUP or parsed:
        why = "this model does not have it"
    else:
        why = "that is not a canonical part name"
    return PartError(f"A {spec.name} model has no part {name!r} ({why}); its parts are {describe_parts(names)}.")


def get_part(model: nn.Module, name: str) -> OrderedDict[str, nn.Parameter]:
    """Part `name` of `model` as {local_name: parameter}; the parameters are the model's own (not copies)."""
    members = part_members(model, name)
    part: OrderedDict[str, nn.Parameter] = OrderedDict()
    for prefix, module in members:
        for local, param in module.named_parameters():
            part[f"{prefix}.{local}" if prefix else local] = param
    if not part:
        raise missing_part_error(model, name)
    return part
