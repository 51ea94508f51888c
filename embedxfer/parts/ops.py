"""Operations on parts: checked copies between models, freezing, parameter groups, layer permutation."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from embedxfer.errors import PartError
from embedxfer.parts.resolve import (
    GROUPS,
    INPUT_ATTRS,
    backbone_of,
    describe_parts,
    family_of,
    get_part,
    layer_modules,
    num_layers,
    part_group,
    part_names,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from torch import nn


def _shape(tensor) -> str:
    return "(" + ", ".join(str(d) for d in tensor.shape) + ")"


def _listing(keys: list[str]) -> str:
    return ", ".join(keys) if keys else "nothing"


def copy_part(src: nn.Module, dst: nn.Module, name: str, dst_name: str | None = None) -> None:
    """Copy part `name` of `src` into part `dst_name` (default: the same name) of `dst`, in place.

    Every local name and shape is checked before anything is written, so a mismatch leaves `dst`
    untouched; the PartError lists each mismatch. Parts copy across families where their layouts
    agree (e.g. `embed.tokens` is one `weight` matrix in bert, llama and gpt2).
    """
    import torch

    dst_name = dst_name or name
    label = name if dst_name == name else f"{name} -> {dst_name}"
    source, target = get_part(src, name), get_part(dst, dst_name)
    only_src = [k for k in source if k not in target]
    only_dst = [k for k in target if k not in source]
    if only_src or only_dst:
        raise PartError(
            f"{label}: the {family_of(src)} source and the {family_of(dst)} target lay this part out differently: "
            f"source-only parameters: {_listing(only_src)}; target-only parameters: {_listing(only_dst)}."
        )
    mismatches = [
        f"source {key} is {_shape(param)} but target is {_shape(target[key])}"
        for key, param in source.items()
        if param.shape != target[key].shape
    ]
    if mismatches:
        raise PartError(f"{label}: " + "; ".join(mismatches) + ".")
    with torch.no_grad():
        for key, param in source.items():
            # copy_ casts dtype and moves across devices; tied parameters stay tied because we write in place
            target[key].copy_(param)


def param_groups(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    """Every parameter of `model` in exactly one of GROUPS (FPT's trainable groups).

    input: token (and token-type) embeddings plus wrapper `input_proj` / `input_embed`; positions:
    position embeddings (empty for llama); layernorm: every norm; attention / mlp: the blocks;
    output: the pooler, a wrapper's `head` / `output_proj`, and any other parameter outside the
    backbone (HF classifier, lm_head when untied).
    """
    groups: dict[str, list[nn.Parameter]] = {group: [] for group in GROUPS}
    seen: set[int] = set()

    def add(group: str, param: nn.Parameter) -> None:
        if id(param) not in seen:  # tied weights (gpt2 lm_head = wte) count once, in their first group
            seen.add(id(param))
            groups[group].append(param)

    for name in part_names(model):
        for param in get_part(model, name).values():
            add(part_group(name), param)
    backbone = backbone_of(model)
    leftover = [n for n, p in backbone.named_parameters() if id(p) not in seen]
    if leftover:
        raise PartError(
            f"The {family_of(model)} backbone has parameters outside every part ({', '.join(leftover[:5])}); "
            "this layout is not supported."
        )
    for pname, param in model.named_parameters():
        side = "input" if any(step in INPUT_ATTRS for step in pname.split(".")) else "output"
        add(side, param)
    return groups


def _select(model: nn.Module, names: str | Iterable[str]) -> list[nn.Parameter]:
    """Parameters named by part names, glob patterns over part names ('layers.*.attn') or group names."""
    if isinstance(names, str):
        names = [names]
    available = part_names(model)
    groups = None
    params: list[nn.Parameter] = []
    for name in names:
        if name in GROUPS:
            groups = groups or param_groups(model)
            params += groups[name]
            continue
        matched = [part for part in available if fnmatchcase(part, name)]
        if not matched:
            raise PartError(
                f"No part or group matches {name!r}; parts are {describe_parts(available)} "
                f"and groups are {', '.join(GROUPS)}."
            )
        for part in matched:
            params += get_part(model, part).values()
    return params


def freeze_parts(model: nn.Module, names: str | Iterable[str]) -> None:
    """Set requires_grad=False on the named parts or groups (globs like 'layers.*.attn' allowed)."""
    for param in _select(model, names):
        param.requires_grad_(False)


def unfreeze_parts(model: nn.Module, names: str | Iterable[str]) -> None:
    """Set requires_grad=True on the named parts or groups (globs like 'layers.*.attn' allowed)."""
    for param in _select(model, names):
        param.requires_grad_(True)


def permute_layers(model: nn.Module, order: Sequence[int]) -> None:
    """Reorder block weights in place: afterwards block i holds what block order[i] held (Tamkin's scramble).

    Weights move, modules stay, so per-block attributes such as llama's cache `layer_idx` stay valid.
    """
    import torch

    count = num_layers(model)
    order = list(order)
    if sorted(order) != list(range(count)) or any(isinstance(i, bool) for i in order):
        raise PartError(f"Layer order {order} is not a permutation of 0..{count - 1} (one entry per layer).")
    blocks = layer_modules(model)
    snapshot = [{k: v.detach().clone() for k, v in block.state_dict().items()} for block in blocks]
    with torch.no_grad():
        for i, j in enumerate(order):
            blocks[i].load_state_dict(snapshot[j])


def validate_part_names(names: Iterable[str], *, family: str, num_layers: int) -> None:
    """Check part/group names against a family's layout without building the model.

    Lets a config be rejected at submit time (from ArchInfo alone) instead of in a worker. The
    static list may include optional parts a given model lacks (pooler); those fail later, clearly.
    """
    from embedxfer.parts.resolve import FAMILIES, candidate_parts, loaded_spec

    spec = loaded_spec(family)
    if spec is None:
        raise PartError(f"Parts are defined for {', '.join(FAMILIES)} models, not {family!r}.")
    candidates = candidate_parts(spec, num_layers)
    for name in [names] if isinstance(names, str) else names:
        if name not in GROUPS and not any(fnmatchcase(part, name) for part in candidates):
            raise PartError(
                f"No part or group matches {name!r} in a {num_layers}-layer {family} model; parts are "
                f"{describe_parts(candidates)} and groups are {', '.join(GROUPS)}."
            )
