"""Move a module's tensors (and a task head) from one host to another by canonical layer index, with a report.

`port_module` copies every tensor of the receiving module that has a source through the layer map and writes one
report entry per tensor: `ported` (copied as is), `reshaped` (the prefix-tuning MLP's per-layer rows picked by the
layer map), `initialised` (a receiving tensor with no source keeps its fresh initialisation) or `skipped` (an
origin tensor nothing takes). Every tensor of both modules appears in the report: nothing is dropped silently.
Shapes are checked before anything is copied, so a port that does not fit changes nothing.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from embedxfer.errors import PartError
from embedxfer.porting.layer_map import describe_layer_map
from embedxfer.porting.modules import layer_of, with_layer

if TYPE_CHECKING:
    import torch

ACTIONS = ("ported", "reshaped", "initialised", "skipped")
#: the prefix-tuning MLP's output layer: its rows are (layer, key/value, width) blocks, so its size depends on depth
_PER_LAYER_ROWS = re.compile(r"^shared\.prefix_tunings\..*control_trans\.2\.(weight|bias)$")


@dataclass
class PortEntry:
    """What happened to one tensor."""

    parameter: str
    action: str
    source: str | None
    source_shape: list[int] | None
    target_shape: list[int] | None
    note: str = ""
    #: numbers copied from the origin into this tensor (0 unless ported or reshaped)
    values: int = 0


@dataclass
class PortReport:
    """Every tensor of a port: origin and receiving host, the layer map, one entry per tensor, counts."""

    origin: str
    receiver: str
    technique: str
    origin_layers: int
    receiver_layers: int
    layer_map: list[int | None]
    entries: list[PortEntry] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Tensors per action (every action present, zeros included)."""
        found = Counter(e.action for e in self.entries)
        return {action: found.get(action, 0) for action in ACTIONS}

    def values_ported(self) -> int:
        """Numbers copied from the origin (ported tensors whole, reshaped ones by the rows taken)."""
        return sum(e.values for e in self.entries)

    def summary(self) -> str:
        counts = ", ".join(f"{n} {action}" for action, n in self.counts().items() if n)
        return (
            f"{self.technique} {self.origin} ({self.origin_layers} layers) -> {self.receiver} ({self.receiver_layers} "
            f"layers), layer map {describe_layer_map(self.layer_map)}: {counts}."
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"counts": self.counts(), "summary": self.summary()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PortReport:
        fields = {k: v for k, v in data.items() if k not in ("entries", "counts", "summary")}
        return cls(**fields, entries=[PortEntry(**e) for e in data.get("entries", [])])


def check_widths(origin: str, origin_width: int, receiver: str, receiver_width: int) -> None:
    """PartError when the hosts differ in width: every module tensor is sized by it."""
    if origin_width != receiver_width:
        raise PartError(
            f"Cannot port a module from {origin} (width {origin_width}) to {receiver} (width {receiver_width}): "
            f"module tensors are sized by the host's width; pick hosts of equal width."
        )


def port_module(
    source: Mapping[str, torch.Tensor],
    target: Mapping[str, torch.Tensor],
    layer_map: list[int | None],
    *,
    origin: str,
    receiver: str,
    technique: str,
    origin_layers: int,
    receiver_layers: int,
) -> PortReport:
    """Copy `source` (canonical name -> origin tensor) into `target` (canonical name -> receiving parameter) through
    `layer_map`; the report lists every tensor of both. PartError (nothing copied) when a shape does not fit."""
    import torch

    report = PortReport(origin, receiver, technique, origin_layers, receiver_layers, list(layer_map))
    copies: list[tuple[torch.Tensor, torch.Tensor, list[tuple[int, int]] | None]] = []
    used: set[str] = set()
    for name, param in target.items():
        layer = layer_of(name)
        shape = list(param.shape)
        if layer is not None and (layer >= len(layer_map) or layer_map[layer] is None):
            report.entries.append(PortEntry(name, "initialised", None, None, shape, "no origin layer in the map"))
            continue
        wanted = with_layer(name, layer_map[layer]) if layer is not None else name
        if wanted not in source:
            report.entries.append(PortEntry(name, "initialised", None, None, shape, f"the origin has no {wanted}"))
            continue
        tensor = source[wanted]
        used.add(wanted)
        # the prefix MLP's rows come per layer: any map but the identity reorders them, even at equal shapes
        per_layer_rows = bool(_PER_LAYER_ROWS.match(name)) and layer_map != list(range(origin_layers))
        if list(tensor.shape) == shape and not per_layer_rows:
            report.entries.append(PortEntry(name, "ported", wanted, list(tensor.shape), shape, values=math.prod(shape)))
            copies.append((param, tensor, None))
            continue
        blocks = _layer_blocks(name, tensor, param, layer_map, origin_layers, receiver_layers)
        taken = len(blocks) * (tensor.shape[0] // origin_layers) * math.prod(shape[1:])
        fresh = [j for j, o in enumerate(layer_map) if o is None]
        note = (
            "rows of receiving layers "
            + describe_layer_map(layer_map)
            + (f"; layers {fresh} keep fresh rows" if fresh else "")
        )
        report.entries.append(PortEntry(name, "reshaped", wanted, list(tensor.shape), shape, note, values=taken))
        copies.append((param, tensor, blocks))
    for name, tensor in source.items():
        if name not in used:
            layer = layer_of(name)
            why = "its origin layer is not in the layer map" if layer is not None else "the receiver has no such tensor"
            report.entries.append(PortEntry(name, "skipped", name, list(tensor.shape), None, why))
    with torch.no_grad():
        for param, tensor, blocks in copies:
            value = tensor.to(device=param.device, dtype=param.dtype)
            if blocks is None:
                param.copy_(value)
            else:
                size = value.shape[0] // origin_layers  # rows per layer: (key, value) x width
                for dst, src in blocks:
                    param[dst * size : (dst + 1) * size] = value[src * size : (src + 1) * size]
    return report


def _layer_blocks(name, tensor, param, layer_map, origin_layers, receiver_layers) -> list[tuple[int, int]]:
    """(receiving layer, origin layer) row blocks for a per-layer-rows tensor; PartError for any other mismatch."""
    per_layer = _PER_LAYER_ROWS.match(name)
    rows_o, rows_r = tensor.shape[0], param.shape[0]
    fits = (
        per_layer
        and rows_o % origin_layers == 0
        and rows_r % receiver_layers == 0
        and rows_o // origin_layers == rows_r // receiver_layers
        and tuple(tensor.shape[1:]) == tuple(param.shape[1:])
    )
    if not fits:
        raise PartError(
            f"Tensor {name} does not fit: {tuple(tensor.shape)} on the origin, {tuple(param.shape)} on the receiver "
            "(hosts with different head counts or feed-forward sizes cannot share this module)."
        )
    return [(j, o) for j, o in enumerate(layer_map) if o is not None]


def sample_like(target: Mapping[str, torch.Tensor], report: PortReport, seed: int) -> None:
    """Replace every tensor the port filled (ported or reshaped) with Gaussian noise rescaled to that tensor's exact
    mean and standard deviation: the `sampled` condition (same placement, same statistics, no learned values)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for entry in report.entries:
            if entry.action not in ("ported", "reshaped"):
                continue
            param = target[entry.parameter]
            values = param.detach().float()
            mean, std = values.mean(), values.std() if values.numel() > 1 else torch.tensor(0.0)
            noise = torch.randn(param.shape, generator=generator)
            if noise.numel() > 1:
                noise = (noise - noise.mean()) / noise.std().clamp_min(1e-12)
            else:
                noise = torch.zeros_like(noise)
            param.copy_((noise * std + mean).to(param.dtype))
