"""Which kinds can run which checkpoint, and why not: the two tiers of model support.

Kinds that only read hidden states or the token table (probing, the explorer kinds, embedding_transfer, ...) take
every model transformers loads without remote code: encoders, decoders, and encoder-decoders through their
encoder. Kinds that change or freeze parts by name (layer_reinit, frozen_transformer, module_porting) declare a
`checkpoint_rule`: one sentence saying why a checkpoint is out of reach, None when it is served. The catalog shows
every kind's answer per checkpoint, and `plan_experiment` refuses a config before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from embedxfer.errors import ConfigError

if TYPE_CHECKING:
    from embedxfer.checkpoints import ArchInfo
    from embedxfer.experiments.registry import ExperimentKind

#: a kind's rule: why it cannot run a checkpoint (one sentence), None when it can
CheckpointRule = Callable[["ArchInfo"], "str | None"]


def parts_rule(
    what: str, families: Callable[[], Iterable[str]] | None = None, reasons: Mapping[str, str] | None = None
) -> CheckpointRule:
    """The rule of a kind that needs parts by name (`what`: "layer_reinit reinitializes blocks by name");
    `families()` lists those it serves (default: every family with a part map, parts.FAMILIES); `reasons` says why
    the kind leaves out a family it could otherwise name parts of."""

    def rule(info: ArchInfo) -> str | None:
        from embedxfer.parts.families import FAMILIES, UNMAPPED_REASONS

        served = list(families() if families else FAMILIES)
        if info.family in served:
            return None
        why = {**UNMAPPED_REASONS, **(reasons or {})}.get(info.family)
        article = indefinite_article(info.family)
        if why:
            return f"{what}, but {why}; {info.id} is {article} {info.family} model."
        return (
            f"{what}, which embedxfer does for the {', '.join(served)} families; {info.id} is {article} {info.family} "
            "model."
        )

    return rule


def indefinite_article(word: str) -> str:
    """'an' before a vowel ('an albert model'), else 'a'."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def kind_support(info: ArchInfo) -> dict[str, str | None]:
    """{kind name: None (it runs) or the reason it does not} for every registered kind."""
    from embedxfer.experiments.registry import list_kinds

    return {kind.name: kind_reason(kind, info) for kind in list_kinds()}


def kind_reason(kind: ExperimentKind, info: ArchInfo) -> str | None:
    """Why `kind` cannot run the checkpoint `info` describes (one sentence), None when it can."""
    return kind.checkpoint_rule(info) if kind.checkpoint_rule else None


def served_kinds(support: dict[str, str | None]) -> list[str]:
    """The kinds of a `kind_support` answer that run the checkpoint, in registry order."""
    return [name for name, why in support.items() if why is None]


def check_served(kind: ExperimentKind, config: Any) -> None:
    """ConfigError when `kind` cannot run a checkpoint that `config` names, naming the kinds that can."""
    from embedxfer.checkpoints import arch_info

    if kind.checkpoint_rule is None:
        return
    for checkpoint in _named_checkpoints(config):
        info = arch_info(checkpoint)
        reason = kind_reason(kind, info)
        if reason:
            served = served_kinds(kind_support(info))
            raise ConfigError(f"{reason} Kinds that run on it: {', '.join(served) or 'none'}.")


#: poolings that read the first token only
FIRST_TOKEN_POOLINGS = ("first", "cls")


def model_notes(config: Any) -> list[str]:
    """Notes any kind's plan gets from the models it names: the pooling used on a causal model, with a warning for
    a first-token pooling (its first token sees only itself, so every example gets nearly the same features; the
    default, mean, is safe), and an encoder-decoder served through its encoder."""
    from embedxfer.checkpoints import arch_info
    from embedxfer.errors import EmbedxferError

    notes = []
    pooling = getattr(config, "pooling", None)
    for checkpoint in _named_checkpoints(config):
        try:
            info = arch_info(checkpoint)
        except EmbedxferError:
            continue  # expand says what is wrong with it
        if pooling in FIRST_TOKEN_POOLINGS and info.is_causal:
            notes.append(
                f"pooling {pooling} reads the first token, which the causal model {info.id} computes from that token "
                "alone: every example gets nearly the same features. Use mean or last."
            )
        elif pooling in ("mean", "last") and info.is_causal:
            notes.append(f"{info.id} is causal: pooled by the {pooling} of each example's token states.")
        if info.is_encoder_decoder:
            notes.append(f"{info.id} is an encoder-decoder ({info.family}): its encoder's layers are used.")
    return notes


def _named_checkpoints(config: Any) -> list[str]:
    """The checkpoints a config names (its fields of role checkpoint or checkpoints), each once."""
    from embedxfer.experiments.config import field_specs

    names = []
    for spec in field_specs(type(config)):
        if spec.role in ("checkpoint", "checkpoints"):
            value = getattr(config, spec.name)
            names += [value] if isinstance(value, str) else list(value or [])
    return list(dict.fromkeys(n for n in names if n))
