"""The parameter-efficient techniques a module can be, from the `adapters` library, described without importing it.

A `ModuleSpec` says which technique and which hyperparameters; `adapters_config` turns it into the library's config
object (in a worker: that import pulls torch and transformers). A spec read from a module file keeps the file's own
adapter config (`raw`), so a module trained elsewhere is rebuilt exactly as it was trained.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from embedxfer.errors import ConfigError

#: Technique names (public: configs and trial params use them), the paper's four plus (IA)^3.
TECHNIQUES = ("seq_bn", "compacter", "prefix_tuning", "lora", "ia3")

#: What each technique is, for help texts and notes.
TECHNIQUE_MEANING = {
    "seq_bn": "bottleneck adapter after each block's feed-forward (Pfeiffer et al. 2020)",
    "compacter": "bottleneck adapters with parameterized hypercomplex (Kronecker) layers and a shared rule (Mahabadi "
    "et al. 2021)",
    "prefix_tuning": "trained key/value prefixes for every layer, produced by one MLP (Li & Liang 2021)",
    "lora": "low-rank updates of the query and value projections (Hu et al. 2021)",
    "ia3": "learned rescaling of keys, values and feed-forward activations (Liu et al. 2022)",
}

#: Families and the techniques the pinned adapters library (1.3.0) attaches on them. bert, llama and gpt2 hosts
#: were checked end to end (tests/test_porting.py: trains, pads, saves, ports, loads); the others attach and port
#: completely on tiny hosts (tests/test_families.py). adapters builds prefix tuning only into the families it
#: supports natively; qwen2, qwen3, gemma2, gemma3_text, phi and modernbert come through its generic interface, which
#: has none.
#: gpt_neox, opt, gemma, phi3 and olmo are not supported by adapters 1.3.0 at all.
_NO_PREFIX = tuple(t for t in TECHNIQUES if t != "prefix_tuning")
SUPPORTED: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        ("bert", "roberta", "xlm-roberta", "electra", "distilbert", "deberta-v2", "llama", "mistral", "gpt2"),
        TECHNIQUES,
    ),
    **dict.fromkeys(("qwen2", "qwen3", "gemma2", "gemma3_text", "phi", "modernbert"), _NO_PREFIX),
}
#: Families adapters supports that module_porting still leaves out, and why.
UNPORTABLE = {
    "t5": "adapters attaches its modules to a whole t5 encoder-decoder, and embedxfer runs t5 through its encoder "
    "stack alone",
}
#: Families whose blocks keep a module's tensors at the same paths, so a module ports across them (same width):
#: bert's code is shared by roberta, xlm-roberta and electra; mistral's blocks are llama's.
PORT_GROUPS: tuple[frozenset[str], ...] = (
    frozenset({"bert", "roberta", "xlm-roberta", "electra"}),
    frozenset({"llama", "mistral"}),
)


def same_port_group(a: str, b: str) -> bool:
    """Whether a module trained on a family-`a` host can be ported into a family-`b` host (same family, or a group
    of PORT_GROUPS holding both)."""
    return a == b or any(a in group and b in group for group in PORT_GROUPS)


#: The adapters library's defaults for the hyperparameters a config can set (adapters 1.3.0).
DEFAULTS = {
    "seq_bn": {"reduction_factor": 16},
    "compacter": {"reduction_factor": 32},
    "prefix_tuning": {"prefix_length": 30, "bottleneck": 512},
    "lora": {"rank": 8, "alpha": 8},
    "ia3": {},
}
#: compacter's hypercomplex dimension (adapters' default phm_dim): the bottleneck must be a multiple of it
PHM_DIM = 4


@dataclass(frozen=True)
class ModuleSpec:
    """One module: a technique and its hyperparameters, or (`raw`) the adapter config a module file was trained with."""

    technique: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    #: the "config" mapping of an adapter_config.json; when set it decides the module's shape
    raw: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.technique not in TECHNIQUES:
            raise ConfigError(f"Unknown technique {self.technique!r}; techniques: {', '.join(TECHNIQUES)}.")

    def describe(self) -> str:
        if self.raw is not None:
            return f"{self.technique} (from a module file)"
        options = ", ".join(f"{k} {v}" for k, v in self.hyperparameters.items())
        return f"{self.technique} ({options})" if options else self.technique

    def reduction_factor(self) -> float | None:
        if self.raw is not None:
            value = self.raw.get("reduction_factor")
            return float(value) if isinstance(value, int | float) else None
        value = self.hyperparameters.get("reduction_factor")
        return None if value is None else float(value)


def module_spec(technique: str, **given: Any) -> ModuleSpec:
    """The technique with its adapters defaults, overridden by the hyperparameters given (None = the default); only
    the technique's own hyperparameters are kept."""
    if technique not in TECHNIQUES:
        raise ConfigError(f"Unknown technique {technique!r}; techniques: {', '.join(TECHNIQUES)}.")
    chosen = dict(DEFAULTS[technique])
    for name in chosen:
        if given.get(name) is not None:
            chosen[name] = given[name]
    return ModuleSpec(technique, chosen)


def technique_of(raw: dict[str, Any]) -> str | None:
    """Which of TECHNIQUES an adapter config (the "config" mapping of adapter_config.json) is, or None."""
    architecture = raw.get("architecture")
    if architecture == "lora":
        return "ia3" if raw.get("composition_mode") == "scale" else "lora"
    if architecture == "prefix_tuning":
        return "prefix_tuning"
    if architecture in (None, "bottleneck") and "reduction_factor" in raw:
        if raw.get("is_parallel") or raw.get("inv_adapter"):
            return None
        return "compacter" if raw.get("phm_layer") else "seq_bn"
    return None


def check_host(spec: ModuleSpec, family: str, hidden_size: int, host: str) -> None:
    """ConfigError when `host` (of `family`, width `hidden_size`) cannot carry the module: a family the technique
    was not checked on (naming the techniques that family supports), or a compacter bottleneck that is not a
    multiple of the hypercomplex dimension."""
    supported = SUPPORTED.get(family, ())
    if spec.technique not in supported:
        families = [f for f, techniques in SUPPORTED.items() if spec.technique in techniques]
        raise ConfigError(
            f"Technique {spec.technique!r} does not support {host} (a {family} model): on {family} use "
            f"{', '.join(supported) or 'none of them'}; {spec.technique} works on {', '.join(families) or 'no family'}."
        )
    factor = spec.reduction_factor()
    if spec.technique == "compacter" and factor:
        bottleneck = int(hidden_size // factor)
        if bottleneck < PHM_DIM or bottleneck % PHM_DIM or hidden_size % PHM_DIM:
            fits = [f for f in (2, 4, 8, 16, 32, 64) if (hidden_size // f) % PHM_DIM == 0 and hidden_size // f]
            raise ConfigError(
                f"compacter on {host}: a bottleneck of {hidden_size} // {factor:g} = {bottleneck} is not a multiple "
                f"of the hypercomplex dimension {PHM_DIM}; use reduction_factor "
                f"{' or '.join(map(str, fits[:3])) or 'with a width divisible by 4'}."
            )


def adapters_config(spec: ModuleSpec) -> Any:
    """The `adapters` config object of a spec (imports the library)."""
    import adapters

    if spec.raw is not None:
        return adapters.AdapterConfig.load(dict(spec.raw))
    h = spec.hyperparameters
    if spec.technique == "seq_bn":
        return adapters.SeqBnConfig(reduction_factor=h["reduction_factor"])
    if spec.technique == "compacter":
        return adapters.CompacterConfig(reduction_factor=h["reduction_factor"])
    if spec.technique == "prefix_tuning":
        return adapters.PrefixTuningConfig(prefix_length=h["prefix_length"], bottleneck_size=h["bottleneck"])
    if spec.technique == "lora":
        return adapters.LoRAConfig(r=h["rank"], alpha=h["alpha"])
    return adapters.IA3Config()
