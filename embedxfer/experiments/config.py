"""Experiment configs: declaring fields (help, choices, role, what empty means), the shared base fields, type
checks for values from YAML/JSON/forms, and field specs for forms.

A field's *role* says what its value names, so forms and captions never guess from field names:
``checkpoint`` (one checkpoint id), ``checkpoints`` (a list of them), ``task`` (a task name), ``tasks`` (a list of
them) and ``parts`` (part or group names of the kind's checkpoint). A free-text list may name `suggestions`: values
a form offers while still accepting others (embedding_transfer's target names). An optional field (``X | None``)
says what leaving it empty
means (``empty="all training examples"``); the form shows that as its placeholder.
Parsing a dict into a kind's config lives in `embedxfer.experiments.parsing`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from embedxfer.errors import ConfigError

#: What a field's value can name; forms offer the known values for each.
ROLES = ("checkpoint", "checkpoints", "task", "tasks", "parts")


def config_field(
    default: Any = dataclasses.MISSING,
    *,
    help: str,
    choices: typing.Sequence[Any] | None = None,
    factory: Any = dataclasses.MISSING,
    role: str | None = None,
    empty: str | None = None,
    suggestions: typing.Sequence[str] | None = None,
    **extra: Any,
) -> Any:
    """A dataclass field with a help text (and choices) that forms and the CLI show.

    `role` is one of ROLES when the value names a checkpoint, checkpoints, a task, tasks or parts; `empty` says what
    an empty value means for an optional field (e.g. "all training examples"); `suggestions` are values a form
    offers for a free-text field.
    """
    if role is not None and role not in ROLES:
        raise ValueError(f"field role must be one of {', '.join(ROLES)}, got {role!r}")
    metadata = {
        "help": help,
        "choices": tuple(choices) if choices is not None else None,
        "role": role,
        "empty": empty,
        "suggestions": tuple(suggestions) if suggestions is not None else None,
        **extra,
    }
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(kw_only=True)
class BaseConfig:
    """Fields every experiment kind has (docs/architecture.md, "Configs")."""

    task: str = config_field("tweets-binary", help="Task name (see `embedxfer tasks`).", role="task")
    train_size: int | None = config_field(
        None, help="Training examples to use; empty = all.", empty="all training examples"
    )
    seeds: list[int] = config_field(factory=lambda: [0, 1, 2], help="Random seeds; one trial per seed and condition.")
    device: str = config_field("auto", help="auto (cuda if available, else cpu), cpu, cuda or cuda:N.")

    #: set by subclasses; stored with the config
    kind: typing.ClassVar[str] = ""

    def __post_init__(self) -> None:
        if not self.task:
            raise ConfigError("Field 'task' must name a task; see `embedxfer tasks`.")
        if self.train_size is not None and self.train_size < 1:
            raise ConfigError(f"Field 'train_size' must be a positive number or empty, got {self.train_size}.")
        if not self.seeds:
            raise ConfigError("Field 'seeds' must list at least one seed, e.g. [0, 1, 2].")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"Field 'seeds' has duplicates: {self.seeds}.")
        if not (self.device in ("auto", "cpu", "cuda") or self.device.startswith("cuda:")):
            raise ConfigError(f"Field 'device' must be auto, cpu, cuda or cuda:N, got {self.device!r}.")


def require(config: Any, *, positive: typing.Iterable[str] = (), choices: typing.Iterable[str] = ()) -> None:
    """ConfigError naming the first field of `positive` that is not > 0 (an optional one may be None), or of
    `choices` whose value is not one of its declared choices."""
    specs = {f.name: f for f in dataclasses.fields(config)}
    for name in positive:
        value = getattr(config, name)
        if value is not None and not value > 0:
            raise ConfigError(f"Field {name!r} must be positive, got {value}.")
    for name in choices:
        allowed = specs[name].metadata.get("choices") or ()
        if getattr(config, name) not in allowed:
            raise ConfigError(f"Field {name!r} must be one of {', '.join(allowed)}, got {getattr(config, name)!r}.")


def config_to_dict(config: BaseConfig) -> dict[str, Any]:
    """The config as a plain dict with `kind` first: what is stored, shown and re-submitted."""
    return {"kind": config.kind, **dataclasses.asdict(config)}


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def coerce_fields(cls: type, values: dict[str, Any], kind: str) -> dict[str, Any]:
    """`values` checked against the annotations of config dataclass `cls`; ConfigError names an unknown field."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    out = {}
    for key, value in values.items():
        if key not in names:
            raise ConfigError(f"Unknown field {key!r} for kind {kind!r}; valid fields: {', '.join(names)}.")
        out[key] = _coerce(key, value, hints[key])
    return out


def _number_from_text(value: Any, tp: type) -> Any:
    """A number written as text (YAML 1.1 reads ``2e-5`` as a string), or `value` unchanged."""
    if not isinstance(value, str):
        return value
    text = value.strip().replace("_", "")
    try:
        number = float(text) if tp is float else int(text)
    except ValueError:
        return value
    return number if tp is int or math.isfinite(number) else value


def _coerce(name: str, value: Any, tp: Any) -> Any:
    """Check `value` against annotation `tp`; allow the lossless conversions YAML/JSON need (int -> float, and
    numbers written as text: ``lr: 2e-5`` is a string to YAML 1.1)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(name, value, arg)
            except ConfigError as exc:
                errors.append(exc)
        raise ConfigError(f"Field {name!r} must be {_describe(tp)}, got {json.dumps(value, default=str)}.")
    if origin is list:
        (item_tp,) = typing.get_args(tp) or (Any,)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"Field {name!r} must be {_describe(tp)}, got {json.dumps(value, default=str)}.")
        return [_coerce(f"{name}[{i}]", v, item_tp) for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"Field {name!r} must be a mapping, got {json.dumps(value, default=str)}.")
        return dict(value)
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(f"Field {name!r} must be one of {', '.join(map(repr, allowed))}, got {value!r}.")
        return value
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        value = _number_from_text(value, int)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        value = _number_from_text(value, float)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif isinstance(value, tp):
        return value
    raise ConfigError(f"Field {name!r} must be {_describe(tp)}, got {json.dumps(value, default=str)}.")


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        parts = [_describe(a) for a in typing.get_args(tp) if a is not type(None)]
        optional = type(None) in typing.get_args(tp)
        return " or ".join(parts) + (" or null" if optional else "")
    if origin is list:
        (item,) = typing.get_args(tp)
        plural = {int: "integers", float: "numbers", str: "strings", bool: "booleans"}.get(item)
        return f"a list of {plural or _describe(item)}"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, _type_name(tp))


@dataclass(frozen=True)
class FieldSpec:
    """A config field described for a form: name, type, default, help and choices."""

    name: str
    type: Any
    default: Any
    help: str
    choices: tuple[Any, ...] | None
    #: what the value names: one of ROLES, or None
    role: str | None = None
    #: what an empty value means (optional fields only)
    empty: str | None = None
    #: values a form offers for a free-text field (others still accepted)
    suggestions: tuple[str, ...] | None = None

    @property
    def optional(self) -> bool:
        tp = self.type
        return typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in typing.get_args(tp)


def field_specs(config_cls: type) -> list[FieldSpec]:
    """Describe every field of a config dataclass, in declaration order."""
    hints = typing.get_type_hints(config_cls)
    specs = []
    for f in dataclasses.fields(config_cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        meta = f.metadata
        specs.append(
            FieldSpec(
                f.name,
                hints[f.name],
                default,
                meta.get("help", ""),
                meta.get("choices"),
                meta.get("role"),
                meta.get("empty"),
                meta.get("suggestions"),
            )
        )
    return specs


def check_config_class(config_cls: type) -> None:
    """A kind's config must be a BaseConfig dataclass whose fields all have help, and whose optional fields say
    what empty means; ValueError (a programming error, not a user's) otherwise."""
    if not (
        isinstance(config_cls, type) and issubclass(config_cls, BaseConfig) and dataclasses.is_dataclass(config_cls)
    ):
        raise ValueError(f"{config_cls!r} must be a dataclass subclassing BaseConfig")
    for spec in field_specs(config_cls):
        if not spec.help:
            raise ValueError(f"{config_cls.__name__}.{spec.name} has no help text; declare it with config_field")
        if spec.optional and not spec.empty:
            raise ValueError(f"{config_cls.__name__}.{spec.name} is optional: say what empty means (empty=...)")
