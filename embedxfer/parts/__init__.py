"""Canonical model parts: names that mean the same thing in every family, and checked operations on them.

Part names: `embed.tokens`, `embed.positions` (bert, gpt2), `embed.types` (bert), `embed.norm` (bert),
`embed.proj` (electra, opt, deberta), `embed.relative_positions` / `embed.relative_norm` (deberta),
`layers.{i}.attn`, `layers.{i}.mlp`, `layers.{i}.norm` (every norm of block i), `final_norm` (llama,
gpt2), `out_proj` (opt), `conv` (deberta-v2-xlarge), `pooler` (bert, when present), `head` (a wrapper's `.head`),
and on a whole t5 `decoder.layers.{i}.*` / `decoder.final_norm`. A part is an ordered dict
{local_name: nn.Parameter}. Models may be bare base models (BertModel, LlamaModel, GPT2Model), HF
task models around them (`.bert`, `.model`, `.transformer`) or wrappers with a `.backbone`.
"""

from embedxfer.parts.ops import (
    copy_part,
    freeze_parts,
    param_groups,
    permute_layers,
    unfreeze_parts,
    validate_part_names,
)
from embedxfer.parts.reinit import INITS, reinit_embeddings, reinit_layers
from embedxfer.parts.resolve import (
    FAMILIES,
    GROUPS,
    backbone_of,
    describe_parts,
    family_of,
    get_part,
    layer_modules,
    num_layers,
    part_group,
    part_names,
)

__all__ = [
    "FAMILIES",
    "GROUPS",
    "INITS",
    "backbone_of",
    "copy_part",
    "describe_parts",
    "family_of",
    "freeze_parts",
    "get_part",
    "layer_modules",
    "num_layers",
    "param_groups",
    "part_group",
    "part_names",
    "permute_layers",
    "reinit_embeddings",
    "reinit_layers",
    "unfreeze_parts",
    "validate_part_names",
]
