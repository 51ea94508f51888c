"""Target names, their options with defaults and help, and parsing ``"name key=value ..."`` (no torch here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from embedxfer.errors import ConfigError

OptionValue = int | float | bool | tuple[int, ...]


@dataclass(frozen=True)
class TargetOption:
    """One option of a target: its default (which also fixes its type), what it does, its smallest sensible value."""

    name: str
    default: OptionValue
    help: str
    minimum: float = 1

    def parse(self, target: str, text: str) -> OptionValue:
        """The option's value from its text in a target spec; ConfigError says what was expected."""
        try:
            value = self._convert(text)
        except ValueError:
            raise ConfigError(
                f"Target {target!r}: option {self.name}={text!r} must be {self._expected()} ({self.help})."
            ) from None
        smallest = min(value) if isinstance(value, tuple) else value
        if not isinstance(value, bool) and smallest < self.minimum:
            raise ConfigError(f"Target {target!r}: option {self.name} must be at least {self.minimum:g}, got {text}.")
        return value

    def _convert(self, text: str) -> OptionValue:
        if isinstance(self.default, bool):
            lowered = text.lower()
            if lowered not in ("true", "false", "yes", "no", "1", "0"):
                raise ValueError(text)
            return lowered in ("true", "yes", "1")
        if isinstance(self.default, tuple):
            value = tuple(int(piece) for piece in text.split("/"))
            if not value:
                raise ValueError(text)
            return value
        return type(self.default)(text)

    def _expected(self) -> str:
        if isinstance(self.default, bool):
            return "true or false"
        if isinstance(self.default, tuple):
            return "whole numbers separated by '/', e.g. 3/4/5"
        return "a whole number" if isinstance(self.default, int) else "a number"


def format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return "/".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class TargetKind:
    name: str
    help: str
    options: tuple[TargetOption, ...]


_DROPOUT = TargetOption("dropout", 0.1, "dropout inside the scorer, 0 to <1", minimum=0)

TARGETS: dict[str, TargetKind] = {
    "transformer": TargetKind(
        "transformer",
        "pre-norm transformer encoder at the embedding's width, learned positions, masked mean pool",
        (
            TargetOption("layers", 2, "encoder layers"),
            TargetOption("heads", 4, "attention heads; must divide the embedding width"),
            TargetOption("ffn", 2, "feed-forward width as a multiple of the embedding width"),
            _DROPOUT,
        ),
    ),
    "lstm": TargetKind(
        "lstm",
        "LSTM over the tokens; the top layer's final states (both directions) feed the head",
        (
            TargetOption("layers", 1, "stacked LSTM layers"),
            TargetOption("hidden", 256, "hidden units per direction"),
            TargetOption("bidirectional", True, "read the sequence both ways"),
            _DROPOUT,
        ),
    ),
    "cnn": TargetKind(
        "cnn",
        "1-D convolutions of several kernel widths, ReLU, max over time (Kim 2014)",
        (
            TargetOption("kernels", (3, 4, 5), "kernel widths"),
            TargetOption("channels", 100, "filters per kernel width"),
            _DROPOUT,
        ),
    ),
    "bag": TargetKind(
        "bag",
        "masked mean of the token embeddings, then an MLP",
        (
            TargetOption("hidden", 256, "hidden units of the MLP"),
            TargetOption("layers", 1, "hidden layers of the MLP (0 = a linear probe of the mean)", minimum=0),
            _DROPOUT,
        ),
    ),
}


@dataclass(frozen=True)
class TargetSpec:
    """A target by name with every option resolved (defaults filled in)."""

    name: str
    options: tuple[tuple[str, OptionValue], ...]

    def get(self, option: str) -> OptionValue:
        return dict(self.options)[option]

    @property
    def label(self) -> str:
        """The canonical spelling: the name and the options that differ from their defaults, in declared order."""
        defaults = {o.name: o.default for o in TARGETS[self.name].options}
        changed = [f"{k}={format_value(v)}" for k, v in self.options if v != defaults[k]]
        return " ".join([self.name, *changed])


def target_help() -> str:
    """Every target with its options and defaults, for help texts and error messages."""
    return "; ".join(
        f"{kind.name} ({', '.join(f'{o.name}={format_value(o.default)}' for o in kind.options)}): {kind.help}"
        for kind in TARGETS.values()
    )


def parse_target(text: str) -> TargetSpec:
    """``"transformer layers=3"`` -> TargetSpec; ConfigError names an unknown target or option and the valid ones."""
    pieces = str(text).split()
    if not pieces:
        raise ConfigError(f"A target must be one of {', '.join(TARGETS)}; got an empty entry.")
    name, given = pieces[0], pieces[1:]
    kind = TARGETS.get(name)
    if kind is None:
        raise ConfigError(f"Unknown target {name!r}; targets: {', '.join(TARGETS)} (e.g. 'transformer layers=2').")
    by_name = {o.name: o for o in kind.options}
    values: dict[str, OptionValue] = {o.name: o.default for o in kind.options}
    for piece in given:
        key, sep, raw = piece.partition("=")
        if not sep or key not in by_name:
            valid = ", ".join(f"{o.name} ({o.help})" for o in kind.options)
            raise ConfigError(f"Target {text!r}: {piece!r} is not an option of {name}; its options: {valid}.")
        values[key] = by_name[key].parse(text, raw)
    if not 0 <= float(values["dropout"]) < 1:
        raise ConfigError(f"Target {text!r}: dropout must be at least 0 and below 1, got {values['dropout']}.")
    return TargetSpec(name, tuple((o.name, values[o.name]) for o in kind.options))


def check_target(spec: TargetSpec, width: int, shown: str) -> None:
    """ConfigError when `spec` cannot sit on an embedding of `width` (from `shown`), saying which settings work."""
    if spec.name != "transformer":
        return
    heads = int(spec.get("heads"))
    if width % heads:
        fits = [h for h in range(1, min(width, 32) + 1) if width % h == 0]
        raise ConfigError(
            f"Target {spec.label!r}: {heads} heads do not divide {shown}'s embedding width {width}; heads that work "
            f"at width {width}: {', '.join(map(str, fits))} (or set dim: pca:<k> with k a multiple of {heads})."
        )
