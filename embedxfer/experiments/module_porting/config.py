"""The module_porting config: which techniques, which hosts (an origin and receivers, or a list of host pairs), how
layers map between hosts of different depth, and the training budgets on the origin and after porting."""

from __future__ import annotations

from dataclasses import dataclass

from embedxfer.errors import ConfigError
from embedxfer.experiments.config import BaseConfig, config_field, require
from embedxfer.porting.layer_map import NAMED_MAPS, parse_layer_map
from embedxfer.porting.techniques import TECHNIQUES

#: The conditions (public names; docs/architecture.md, "module_porting"), in the order trials run: the origin first,
#: so with one worker the module every other condition ports is trained before they start.
CONDITIONS = ("origin", "ported", "scratch", "sampled")
POOLINGS = ("mean", "cls", "last")
SCHEDULES = ("linear", "constant")


def parse_host_pair(text: str) -> list[tuple[str, str]]:
    """'a->b' -> [(a, b)]; 'a<->b' -> [(a, b), (b, a)] (both directions)."""
    for arrow, both in (("<->", True), ("->", False)):
        if arrow in text:
            origin, receiver = (part.strip() for part in text.split(arrow, 1))
            if not origin or not receiver or "->" in receiver:
                break
            return [(origin, receiver), (receiver, origin)] if both else [(origin, receiver)]
    raise ConfigError(
        f"Field 'host_pairs': {text!r} is not a host pair; write origin->receiver (one direction) or a<->b (both), "
        "e.g. minilm-l6<->minilm-l3."
    )


@dataclass(kw_only=True)
class ModulePortingConfig(BaseConfig):
    """Train a parameter-efficient module (and task head) on an origin host, port it to receiving hosts, and compare
    it there with the same module trained from scratch and with one sampled from its statistics (Sabry & Belz
    2024)."""

    kind = "module_porting"

    origin: str = config_field(
        "minilm-l6",
        help="The host the module is trained on first (checkpoint id, folder or hub:org/name).",
        role="checkpoint",
    )
    receivers: list[str] = config_field(
        factory=lambda: ["minilm-l3"],
        help="Hosts the module is ported to (same family and width as the origin).",
        role="checkpoints",
    )
    host_pairs: list[str] = config_field(
        factory=list,
        help="Host pairs instead of origin/receivers: origin->receiver, or a<->b for both directions (the paper's "
        "grid). When given, origin and receivers are not used.",
        empty="origin -> each receiver",
    )
    technique: str = config_field("lora", choices=TECHNIQUES, help="The PEFT technique (from the adapters library).")
    techniques: list[str] = config_field(
        factory=list,
        choices=TECHNIQUES,
        help="Several techniques in one experiment (the grid); empty = just technique.",
        empty="just technique",
    )
    layer_map: str = config_field(
        "spread",
        help="Which origin layer's module goes into each receiving layer when depths differ: first (bottoms aligned), "
        "spread (first and last aligned, the rest evenly), last (tops aligned), or one origin layer per receiving "
        "layer such as '0, 3, 5' ('-' = none).",
        suggestions=NAMED_MAPS,
    )
    conditions: list[str] = config_field(
        factory=lambda: list(CONDITIONS),
        choices=CONDITIONS,
        help="origin (the module on its own host: a reference line), ported (moved, evaluated zero-shot, then trained "
        "on), scratch (the same module freshly initialised on the receiver), sampled (noise with each ported "
        "tensor's mean and std).",
    )
    origin_steps: int = config_field(300, help="Training steps on the origin host (module and head).")
    receiver_steps: int = config_field(
        200,
        help="Training steps on each receiving host after porting (0 = zero-shot only); the same for every condition.",
    )
    eval_every: int = config_field(50, help="Validate every this many steps (the receiving curves start at step 0).")
    lr: float = config_field(5e-4, help="Learning rate of module and head (AdamW, no weight decay, clip 1.0).")
    schedule: str = config_field(
        "linear", choices=SCHEDULES, help="linear decay to 0 over each phase's steps, or constant."
    )
    batch_size: int = config_field(16, help="Examples per optimisation step.")
    max_length: int = config_field(64, help="Tokens per example after truncation.")
    pooling: str = config_field("mean", choices=POOLINGS, help="How token states become one vector for the head.")
    eval_size: int | None = config_field(
        1000, help="Cap on validation/test examples (a fixed subset); empty = all.", empty="all of them"
    )
    reduction_factor: int | None = config_field(
        None,
        help="Bottleneck reduction factor of seq_bn and compacter (width / factor = bottleneck size).",
        empty="the technique's default (seq_bn 16, compacter 32)",
    )
    rank: int = config_field(8, help="LoRA rank r.")
    alpha: int = config_field(8, help="LoRA scaling alpha (the update is scaled by alpha / r).")
    prefix_length: int = config_field(30, help="Prefix tuning: prefix tokens per layer.")
    prefix_bottleneck: int = config_field(512, help="Prefix tuning: width of the MLP that produces the prefixes.")
    origin_module: str | None = config_field(
        None,
        help="A module trained elsewhere (a folder in the adapters format, or a .zip of one, e.g. a download from "
        "this dashboard) to port instead of training one on the origin; its technique must be `technique`. It is "
        "used as loaded; without an embedxfer head in it, only a head trains on the origin for origin_steps.",
        empty="train the module on the origin",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self, positive=("eval_every", "lr", "batch_size", "eval_size", "rank", "alpha", "prefix_length"))
        require(self, positive=("prefix_bottleneck", "reduction_factor"), choices=("schedule", "pooling"))
        if self.origin_steps < 0 or self.receiver_steps < 0:
            raise ConfigError("Fields 'origin_steps' and 'receiver_steps' must be 0 or more.")
        if self.origin_steps == 0 and not self.origin_module:
            raise ConfigError("Field 'origin_steps' is 0 but no origin_module is given: the module must come from one.")
        if self.max_length < 2:
            raise ConfigError(f"Field 'max_length' must be at least 2, got {self.max_length}.")
        for name, values, allowed in (
            ("techniques", self.techniques, TECHNIQUES),
            ("conditions", self.conditions, CONDITIONS),
        ):
            bad = [v for v in values if v not in allowed]
            if bad:
                raise ConfigError(f"Field {name!r}: unknown {bad[0]!r}; choose from {', '.join(allowed)}.")
            if len(set(values)) != len(values):
                raise ConfigError(f"Field {name!r} has duplicates: {values}.")
        if self.technique not in TECHNIQUES:
            raise ConfigError(f"Field 'technique' must be one of {', '.join(TECHNIQUES)}, got {self.technique!r}.")
        if self.techniques:
            self.technique = self.techniques[0]  # captions read `technique`
        if not self.conditions:
            raise ConfigError(f"Field 'conditions' is empty; pick some of {', '.join(CONDITIONS)}.")
        if self.origin_module and len(self.technique_list()) > 1:
            raise ConfigError("Field 'origin_module' holds one module: list one technique (its own), not several.")
        parse_layer_map(self.layer_map)  # the form of an explicit map; its range is checked per host pair
        pairs = self.pairs()
        if not pairs:
            raise ConfigError("No host pair: give receivers (or host_pairs such as minilm-l6<->minilm-l3).")
        same = [o for o, r in pairs if o == r]
        if same:
            raise ConfigError(
                f"Receiver {same[0]!r} is the origin itself: porting needs another host; pick a different receiver."
            )
        if len(set(pairs)) != len(pairs):
            raise ConfigError(f"Host pairs repeat: {[f'{o}->{r}' for o, r in pairs]}.")

    def technique_list(self) -> list[str]:
        """The techniques, in the order given."""
        return list(self.techniques) or [self.technique]

    def pairs(self) -> list[tuple[str, str]]:
        """(origin, receiver) pairs, in order: host_pairs expanded, else the origin with each receiver."""
        if self.host_pairs:
            return [pair for text in self.host_pairs for pair in parse_host_pair(text)]
        return [(self.origin, receiver) for receiver in self.receivers]

    def hyperparameters(self, technique: str) -> dict[str, object]:
        """The hyperparameters `technique` takes, as this config sets them. Only that technique's fields are read,
        so a LoRA trial does not depend on prefix_length (a finished trial is reused when another technique's
        setting changes: planning/recorder.py)."""
        from embedxfer.porting.techniques import DEFAULTS

        fields = {"reduction_factor": "reduction_factor", "rank": "rank", "alpha": "alpha"}
        fields |= {"prefix_length": "prefix_length", "bottleneck": "prefix_bottleneck"}
        return {name: getattr(self, field) for name, field in fields.items() if name in DEFAULTS.get(technique, {})}
