"""Experiment configs: the shared base fields, parsing from dicts/YAML, and field specs for forms.

A config file (YAML or JSON) is a dict with `kind` plus the fields of that kind's config
dataclass. Parsing rejects unknown fields by name and checks each value's type against the
dataclass annotation before `__post_init__` checks the values themselves.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedxfer.errors import ConfigError


def config_field(
    default: Any = dataclasses.MISSING,
    *,
    help: str,
    choices: typing.Sequence[Any] | None = None,
    factory: Any = dataclasses.MISSING,
    **extra: Any,
) -> Any:
    """A dataclass field with a help text (and choices) that forms and the CLI show."""
    metadata = {"help": help, "choices": tuple(choices) if choices is not None else None, **extra}
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(kw_only=True)
class BaseConfig:
    """Fields every experiment kind has (DESIGN.md, "Public interfaces")."""

    task: str = config_field("tweets-binary", help="Task name (see `embedxfer tasks`).")
    train_size: int | None = config_field(None, help="Training examples to use; empty = all.")
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


def config_to_dict(config: BaseConfig) -> dict[str, Any]:
    """The config as a plain dict with `kind` first: what is stored, shown and re-submitted."""
    return {"kind": config.kind, **dataclasses.asdict(config)}


def parse_config(data: dict[str, Any]) -> BaseConfig:
    """Build the config dataclass of `data["kind"]`, checking field names and types."""
    from embedxfer.experiments.base import get_kind

    if not isinstance(data, dict):
        raise ConfigError("A config must be a mapping with a 'kind' field and that kind's fields.")
    if "kind" not in data:
        raise ConfigError("The config has no 'kind' field; add one, e.g. 'kind: finetune'.")
    kind = get_kind(str(data["kind"]))
    cls = kind.config_cls
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    values = {}
    for key, value in data.items():
        if key == "kind":
            continue
        if key not in names:
            raise ConfigError(f"Unknown field {key!r} for kind {kind.name!r}; valid fields: {', '.join(names)}.")
        values[key] = _coerce(key, value, hints[key])
    try:
        return cls(**values)
    except TypeError as exc:  # a required field is missing
        raise ConfigError(f"Config for kind {kind.name!r} is incomplete: {exc}.") from None


def load_config_file(path: str | Path) -> BaseConfig:
    """Read a YAML or JSON config file and parse it."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"Cannot read config file {path}: {exc.strerror or exc}.") from None
    return parse_config(parse_config_text(text, source=str(path)))


def parse_config_text(text: str, *, source: str = "config") -> dict[str, Any]:
    """YAML or JSON text to a dict (YAML is a superset of JSON)."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source} is not valid YAML/JSON{where}.") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source} must hold a mapping with a 'kind' field, not {type(data).__name__}.")
    return data


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(name: str, value: Any, tp: Any) -> Any:
    """Check `value` against annotation `tp`; allow the lossless conversions YAML/JSON need (int -> float)."""
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
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
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
        specs.append(FieldSpec(f.name, hints[f.name], default, f.metadata.get("help", ""), f.metadata.get("choices")))
    return specs
