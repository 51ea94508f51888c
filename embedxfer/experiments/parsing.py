"""From a dict, YAML / JSON text or a config file to a kind's config dataclass, with one sentence per mistake.

A config is a mapping with `kind` plus the fields of that kind's config dataclass. Unknown fields are refused by
name; each value is checked against the field's annotation (`embedxfer.experiments.config.coerce_fields`) before
the dataclass's `__post_init__` checks the values themselves. ``.json`` files are read as JSON (so ``2e-5`` is a
number there); anything else as YAML.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from embedxfer.errors import ConfigError
from embedxfer.experiments.config import BaseConfig, coerce_fields
from embedxfer.experiments.registry import get_kind


def parse_config(data: dict[str, Any]) -> BaseConfig:
    """Build the config dataclass of `data["kind"]`, checking field names and types."""
    if not isinstance(data, dict):
        raise ConfigError("A config must be a mapping with a 'kind' field and that kind's fields.")
    if "kind" not in data:
        raise ConfigError("The config has no 'kind' field; add one, e.g. 'kind: finetune'.")
    kind = get_kind(str(data["kind"]))
    values = coerce_fields(kind.config_cls, {k: v for k, v in data.items() if k != "kind"}, kind.name)
    try:
        return kind.config_cls(**values)
    except TypeError as exc:  # a required field is missing
        raise ConfigError(f"Config for kind {kind.name!r} is incomplete: {exc}.") from None


def load_config_file(path: str | Path) -> BaseConfig:
    """Read a YAML or JSON config file and parse it."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"Cannot read config file {path}: {exc.strerror or exc}.") from None
    except UnicodeDecodeError:
        raise ConfigError(f"Config file {path} is not UTF-8 text.") from None
    fmt = "json" if path.suffix.lower() == ".json" else "yaml"
    return parse_config(parse_config_text(text, source=str(path), fmt=fmt))


def parse_config_text(text: str, *, source: str = "config", fmt: str = "yaml") -> dict[str, Any]:
    """YAML (default) or JSON text to a dict."""
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{source} is not valid JSON (line {exc.lineno}: {exc.msg}).") from None
    else:
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
