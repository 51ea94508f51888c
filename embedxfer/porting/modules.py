"""A parameter-efficient module on a host: attach it with the `adapters` library and name its tensors canonically.

Canonical names make a module's tensors comparable across hosts of one family and across files:

- `layers.{i}.<path inside block i>` for a tensor of block i (bottleneck adapters, LoRA, (IA)^3), the adapter's own
  name replaced by `module`;
- `shared.prefix_tunings.<path>` for the prefix-tuning pool (one MLP serves every layer; `adapters` reaches it from
  each layer, so it has several names in a state dict: they are one tensor);
- `shared.parameters.<path>` for parameters shared by all layers (compacter's hypercomplex rule);
- `head.weight`, `head.bias` for the task head (added by the caller).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from embedxfer.porting.techniques import ModuleSpec, adapters_config

if TYPE_CHECKING:
    from torch import nn

#: The module's name inside every host (its files may use another; canonical names drop it).
MODULE = "module"
#: Where `adapters` keeps a module's tensors: a key holding one of these (followed by the adapter's name) is the
#: module's. (The library's own save filter wants a dot before `shared_parameters`, so on a bare base model it leaves
#: compacter's shared rule out of the file; this filter does not.)
_MARKERS = ("adapters", "loras", "prefix_tunings", "prefix_gates", "shared_parameters")
_LAYER_PATHS = {"bert": "encoder.layer", "llama": "layers", "gpt2": "h"}


def layers_path(family: str) -> str:
    """Where a family keeps its blocks (from the parts resolver's table)."""
    from embedxfer.parts import FAMILIES

    return FAMILIES[family].layers if family in FAMILIES else _LAYER_PATHS[family]


def is_module_key(key: str, name: str = MODULE) -> bool:
    """Whether a state-dict key belongs to adapter `name`."""
    return any(re.search(rf"(^|\.|_){marker}\.{re.escape(name)}\.", key) for marker in _MARKERS)


def canonical_name(key: str, family: str, name: str = MODULE) -> str | None:
    """The canonical name of a module key (see the module docstring), or None when `key` is not adapter `name`'s."""
    if not is_module_key(key, name):
        return None
    pool = re.search(rf"prefix_tunings\.{re.escape(name)}\.(.+)$", key)
    if pool:
        return f"shared.prefix_tunings.{pool.group(1)}"
    shared = re.search(rf"shared_parameters\.{re.escape(name)}\.(.+)$", key)
    if shared:
        return f"shared.parameters.{shared.group(1)}"
    block = re.search(rf"(?:^|\.){re.escape(layers_path(family))}\.(\d+)\.(.+)$", key)
    if block:
        inner = re.sub(rf"(^|\.|_)({'|'.join(_MARKERS)})\.{re.escape(name)}\.", rf"\1\2.{MODULE}.", block.group(2))
        return f"layers.{block.group(1)}.{inner}"
    return f"other.{key}"


def layer_of(canonical: str) -> int | None:
    """The block index of a canonical name, None for shared tensors and the head."""
    match = re.match(r"layers\.(\d+)\.", canonical)
    return int(match.group(1)) if match else None


def with_layer(canonical: str, layer: int) -> str:
    """The same tensor's canonical name in block `layer`."""
    return re.sub(r"^layers\.\d+\.", f"layers.{layer}.", canonical)


def attach(backbone: nn.Module, spec: ModuleSpec, family: str, seed: int) -> None:
    """Add the module to a base model (in place) with a seeded initialisation, freeze everything else and make it
    the active, trained module."""
    import adapters
    import torch

    if spec.technique == "prefix_tuning" and family in ("llama", "mistral", "gpt2"):
        # adapters 1.3.0 skips the prefixes of llama/gpt2 under SDPA attention whenever a padding mask is passed
        # (measured: outputs equal the host without the module); eager attention applies them. mistral shares
        # llama's attention code there, so it gets the same (not measured on mistral).
        backbone.config._attn_implementation = "eager"
    logging.getLogger("adapters").setLevel(logging.ERROR)  # "adapters available but none activated" until trained
    adapters.init(backbone)
    torch.manual_seed(seed)
    backbone.add_adapter(MODULE, config=adapters_config(spec))
    backbone.train_adapter(MODULE)


def module_parameters(backbone: nn.Module, family: str) -> dict[str, nn.Parameter]:
    """{canonical name: parameter} of the attached module, each tensor once, in the host's order."""
    found: dict[str, nn.Parameter] = {}
    seen: set[int] = set()
    for key, param in backbone.named_parameters(remove_duplicate=False):
        canonical = canonical_name(key, family)
        if canonical is None or id(param) in seen:
            continue
        seen.add(id(param))
        found[canonical] = param
    return found


def module_state(backbone: nn.Module) -> dict[str, object]:
    """The module's tensors under the host's own state-dict keys, every alias included (the adapters file format)."""
    return {key: value.detach().cpu() for key, value in backbone.state_dict().items() if is_module_key(key)}


def expected_shapes(model_config: object, spec: ModuleSpec, family: str) -> dict[str, tuple[int, ...]]:
    """{canonical name: shape} of the module `spec` creates on a host with this Hugging Face config, built on the
    meta device (no weights are read or allocated)."""
    import torch
    from transformers import AutoModel

    with torch.device("meta"):
        model = AutoModel.from_config(model_config)
        attach(model, spec, family, seed=0)
    return {name: tuple(param.shape) for name, param in module_parameters(model, family).items()}
