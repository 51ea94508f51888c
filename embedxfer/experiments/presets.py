"""Presets: named, complete configs shipped inside a kind's package (`<kind>/presets/<name>.yaml`).

A preset file holds a one-line `description` and a `config` mapping (with `kind`). `embedxfer presets` lists
them, `embedxfer run preset:NAME --set FIELD=VALUE` runs one with overrides, and the New experiment page fills
its form from one. Preset names are unique across kinds.

Overrides are ``FIELD=VALUE`` with VALUE read as YAML: ``seeds=[0,1]``, ``train_size=null``, ``lr=2e-5``,
``freeze=[embed.tokens]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedxfer.errors import ConfigError
from embedxfer.experiments.parsing import parse_config_text
from embedxfer.experiments.registry import list_kinds

PRESET_PREFIX = "preset:"


@dataclass(frozen=True)
class Preset:
    """A named config of a kind."""

    name: str
    kind: str
    description: str
    config: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    #: its checkpoints come from the Hugging Face Hub: it runs when online (offline, planning it is refused in one
    #: sentence naming the hub)
    online: bool = False

    def with_overrides(self, overrides: dict[str, Any]) -> dict[str, Any]:
        """The preset's config with `overrides` applied (unknown fields are refused when it is parsed)."""
        if "kind" in overrides and overrides["kind"] != self.kind:
            raise ConfigError(f"Preset {self.name} is a {self.kind} config; its kind cannot be overridden.")
        return {**self.config, **overrides}


def read_preset(path: Path, kind: str) -> Preset:
    """Read one preset file; ConfigError naming the file when it is malformed."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot read preset {path}: {exc.strerror or exc}.") from None
    data = parse_config_text(text, source=f"Preset {path.name}")
    config = data.get("config")
    description = data.get("description")
    online = data.get("online", False)
    extra = set(data) - {"config", "description", "online"}
    if not isinstance(config, dict) or not isinstance(description, str) or extra or not isinstance(online, bool):
        raise ConfigError(
            f"Preset {path} must hold a 'description' line and a 'config' mapping (and optionally 'online: true')."
        )
    if config.get("kind") != kind:
        raise ConfigError(f"Preset {path} lies in kind {kind}'s folder but its config says kind {config.get('kind')}.")
    return Preset(path.stem, kind, description.strip(), dict(config), path, online)


def kind_presets(kind: Any) -> list[Preset]:
    """The presets of one registered kind, by name."""
    folder = kind.presets_dir
    if folder is None or not Path(folder).is_dir():
        return []
    return [read_preset(path, kind.name) for path in sorted(Path(folder).glob("*.yaml"))]


def list_presets(kind: str | None = None) -> list[Preset]:
    """Every preset of every registered kind (or of `kind`), kinds in registry order; names must be unique."""
    presets: list[Preset] = []
    seen: dict[str, str] = {}
    for spec in list_kinds():
        for preset in kind_presets(spec):
            if preset.name in seen:
                raise ConfigError(f"Preset name {preset.name!r} is used by kinds {seen[preset.name]} and {spec.name}.")
            seen[preset.name] = spec.name
            if kind is None or spec.name == kind:
                presets.append(preset)
    return presets


def get_preset(name: str) -> Preset:
    """The preset called `name` (a leading ``preset:`` is allowed); ConfigError listing the known names."""
    name = name.removeprefix(PRESET_PREFIX)
    presets = list_presets()
    for preset in presets:
        if preset.name == name:
            return preset
    known = ", ".join(p.name for p in presets) or "none"
    raise ConfigError(f"Unknown preset {name!r}; known presets: {known} (see `embedxfer presets`).")


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``["seeds=[0,1]", "lr=2e-5"]`` -> {"seeds": [0, 1], "lr": "2e-5"}; values are YAML (numbers as text are
    accepted by numeric fields)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"Override {item!r} must be FIELD=VALUE, e.g. seeds=[0,1] or train_size=64.")
        try:
            out[key] = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            raise ConfigError(
                f"Override {item!r}: the value is not valid YAML; quote it or fix the brackets."
            ) from None
    return out
