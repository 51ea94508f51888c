"""Widgets for any experiment kind, generated from its config dataclass (`field_specs`).

A field's type, role, choices and help text decide its widget, so a new kind gets a form without page code:

    str with choices         selectbox
    role checkpoint / task   selectbox of known ids that also accepts a typed id, folder or file task
    bool                     checkbox
    int, float               number_input (optional ones may be left empty)
    list[int], list[float]   text input "0, 1, 2" (list[int | None]: "500, 5000, null", null = all)
    list[str]                multiselect (role checkpoints: known ids; role parts: the checkpoint's part names;
                             new values allowed)
    list[list[str]]          text area, one comma-separated list per line
    anything else            text area holding YAML

Widget keys are ``<prefix>-<field>`` (the page passes e.g. ``new-finetune``). Values live in
``st.session_state`` under those keys; `init_state` fills them from defaults or a config to edit. An optional
field's placeholder says what leaving it empty means (the field's `empty`).
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable
from typing import Any

import streamlit as st
import yaml

from embedxfer.errors import ConfigError, EmbedxferError
from embedxfer.experiments import ExperimentKind, field_specs
from embedxfer.experiments.config import FieldSpec
from ui import services
from ui.common import short_task

Suggest = Callable[[FieldSpec, dict[str, Any], list[FieldSpec]], list[str] | None]
#: Roles whose fields come first in a form: the arms of an experiment, then its task.
_ROLE_ORDER = {"checkpoint": 0, "checkpoints": 0, "task": 1}


def unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """(inner type, whether None is allowed) for `X | None` / Optional[X]."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(args) < len(typing.get_args(tp))
        return (args[0] if len(args) == 1 else tp), optional
    return tp, False


def _placeholder(spec: FieldSpec) -> str | None:
    """What the empty widget of an optional field (or a list whose emptiness means something) says."""
    return f"empty = {spec.empty}" if spec.empty else None


_NULLS = ("null", "none", "all")


def _list_item(base: Any) -> tuple[Any, bool]:
    """(item type, whether items may be None) of a list annotation."""
    (item,) = typing.get_args(base) or (str,)
    return unwrap_optional(item)


def part_suggestions(checkpoint_id: str | None) -> list[str]:
    """Part and group names of a checkpoint's family, from its ArchInfo and the parts resolver (no weights)."""
    from embedxfer.parts import FAMILIES, GROUPS

    names: list[str] = list(GROUPS)
    if not checkpoint_id:
        return names
    try:
        from embedxfer.checkpoints import arch_info

        info = arch_info(checkpoint_id)
    except EmbedxferError:
        return names
    spec = FAMILIES.get(info.family)
    if spec is None:
        return names
    names += list(spec.embed)
    names += [f"layers.{i}.{part}" for i in range(info.num_layers) for part in spec.block]
    names += list(spec.top) + ["layers.*.attn", "layers.*.mlp", "layers.*.norm"]
    return list(dict.fromkeys(names))


def default_suggestions(spec: FieldSpec, values: dict[str, Any], specs: list[FieldSpec]) -> list[str] | None:
    """Known values for a field: its declared suggestions, else by its role: checkpoint ids, task names, part names
    (of the form's checkpoint field); None = free text."""
    if spec.suggestions:
        return list(spec.suggestions)
    if spec.role in ("checkpoint", "checkpoints"):
        return services.checkpoint_ids()
    if spec.role in ("task", "tasks"):
        return services.task_names()
    if spec.role == "parts":
        field = next((s.name for s in specs if s.role == "checkpoint"), None)
        checkpoint = values.get(field) if field else None
        return part_suggestions(checkpoint if isinstance(checkpoint, str) else None)
    return None


# --- value <-> widget state ------------------------------------------------------------------------------------------


def _join(values: list[Any]) -> str:
    return ", ".join("null" if v is None else f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def to_widget(spec: FieldSpec, value: Any) -> Any:
    """A config value as the state of the field's widget."""
    base, optional = unwrap_optional(spec.type)
    origin = typing.get_origin(base)
    if origin is list:
        item, _ = _list_item(base)
        if item in (int, float):
            return "" if value is None else _join(list(value))
        if item is str:
            return [str(v) for v in value or []]
        if typing.get_origin(item) is list:
            return "\n".join(", ".join(map(str, row)) for row in value or [])
    if base in (bool, int, float, str) or typing.get_origin(base) is typing.Literal:
        if value is None:
            return None if base is not str else ""
        return float(value) if base is float else value
    return "" if value is None else yaml.safe_dump(value, sort_keys=False).strip()


def _split(text: str) -> list[str]:
    return [piece.strip() for piece in text.replace(";", ",").split(",") if piece.strip()]


def from_widget(spec: FieldSpec, raw: Any) -> Any:
    """The config value for a widget state; ConfigError naming the field when text does not parse."""
    base, optional = unwrap_optional(spec.type)
    origin = typing.get_origin(base)
    if origin is list:
        item, nullable = _list_item(base)
        if item in (int, float):
            pieces = _split(raw or "")
            if not pieces and optional:
                return None
            try:
                return [
                    None if nullable and p.lower() in _NULLS else item(p) if item is float else int(p) for p in pieces
                ]
            except ValueError:
                kind = "whole numbers" if item is int else "numbers"
                also = " (or null for all)" if nullable else ""
                raise ConfigError(
                    f"Field {spec.name!r} must list {kind}{also} separated by commas, e.g. 0, 1, 2; got {raw!r}."
                ) from None
        if item is str:
            return list(raw or [])
        if typing.get_origin(item) is list:
            return [_split(line) for line in (raw or "").splitlines() if _split(line)]
    if base is str:
        text = (raw or "").strip()
        return None if optional and not text else text
    if base in (bool, int, float) or typing.get_origin(base) is typing.Literal:
        if isinstance(raw, float) and base is int and raw.is_integer():
            return int(raw)
        return raw
    text = (raw or "").strip()
    if not text:
        return None if optional else {}
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise ConfigError(f"Field {spec.name!r} must be YAML, e.g. 'key: value'; check its syntax.") from None


# --- the form --------------------------------------------------------------------------------------------------------


class ConfigForm:
    """The widgets of one kind's config; `render()` returns (config dict with `kind`, error sentences)."""

    def __init__(self, kind: ExperimentKind, prefix: str, suggest: Suggest = default_suggestions) -> None:
        self.kind = kind
        self.prefix = prefix
        self.suggest = suggest
        # the arms of an experiment first (checkpoints, then the task), the rest in declaration order
        self.specs = sorted(field_specs(kind.config_cls), key=lambda s: _ROLE_ORDER.get(s.role or "", 2))

    def key(self, name: str) -> str:
        return f"{self.prefix}-{name}"

    def init_state(self, values: dict[str, Any] | None, *, overwrite: bool) -> None:
        """Put defaults (overridden by `values`, e.g. a config to edit) into the widgets' session state."""
        values = values or {}
        for spec in self.specs:
            key = self.key(spec.name)
            if overwrite or key not in st.session_state:
                st.session_state[key] = to_widget(spec, values.get(spec.name, spec.default))

    def values(self) -> tuple[dict[str, Any], list[str]]:
        """Config dict from the current widget state, and the fields whose text did not parse."""
        config: dict[str, Any] = {"kind": self.kind.name}
        errors: list[str] = []
        for spec in self.specs:
            try:
                config[spec.name] = from_widget(spec, st.session_state.get(self.key(spec.name)))
            except ConfigError as exc:
                errors.append(str(exc))
        return config, errors

    def render(self, columns: int = 3) -> tuple[dict[str, Any], list[str]]:
        """Draw every field and return `values()`: the experiment's arms (checkpoint, task selectors) first,
        then scalar fields in a grid, then list fields full width."""
        arms = [s for s in self.specs if self._is_selector(s)]
        lists = [s for s in self.specs if self._is_wide(s) and s not in arms]
        scalars = [s for s in self.specs if s not in arms and s not in lists]
        for spec in arms:
            self._widget(spec)
        for start in range(0, len(scalars), columns):
            self._flush(scalars[start : start + columns], columns)
        for spec in lists:
            self._widget(spec)
        return self.values()

    def _is_selector(self, spec: FieldSpec) -> bool:
        base, _ = unwrap_optional(spec.type)
        return base is str and not spec.choices and self._suggestions(spec) is not None

    def _is_wide(self, spec: FieldSpec) -> bool:
        base, _ = unwrap_optional(spec.type)
        if typing.get_origin(base) is list:
            item, _ = _list_item(base)
            return item not in (int, float)  # "0, 1, 2" fits a grid cell
        return base not in (bool, int, float, str) and typing.get_origin(base) is not typing.Literal

    def _flush(self, row: list[FieldSpec], columns: int) -> None:
        if not row:
            return
        for column, spec in zip(st.columns(columns), row, strict=False):
            with column:
                self._widget(spec)

    def _suggestions(self, spec: FieldSpec) -> list[str] | None:
        current, _ = self.values()
        return self.suggest(spec, current, self.specs)

    def _widget(self, spec: FieldSpec) -> None:
        base, optional = unwrap_optional(spec.type)
        origin = typing.get_origin(base)
        key, label, help_text = self.key(spec.name), spec.name, spec.help or None
        state = st.session_state.get(key)
        if origin is list:  # before choices: a list with choices is a multiselect of them, not a selectbox
            self._list(spec, base, optional, key, help_text, state)
        elif spec.choices or origin is typing.Literal:
            options = list(spec.choices or typing.get_args(base))
            if state not in options:
                options.append(state)
            st.selectbox(label, options, key=key, help=help_text)
        elif base is bool:
            st.checkbox(label, key=key, help=help_text)
        elif base in (int, float):
            self._number(spec, base, optional, key, help_text)
        elif base is str:
            known = self._suggestions(spec)
            if known is None:
                st.text_input(label, key=key, help=help_text, placeholder=_placeholder(spec))
            else:
                if not state:  # nothing chosen yet: an empty box, not a made-up first choice
                    st.session_state[key] = None
                options = list(dict.fromkeys([*known, *([state] if state else [])]))
                st.selectbox(
                    label,
                    options,
                    key=key,
                    help=(help_text or "") + " Pick one or type another.",
                    accept_new_options=True,
                    placeholder="Pick or type…",
                    format_func=short_task if spec.role == "task" else str,
                )
        else:
            st.text_area(label, key=key, help=(help_text or "") + " (YAML)", height=100)

    def _number(self, spec: FieldSpec, base: type, optional: bool, key: str, help_text: str | None) -> None:
        default = spec.default if isinstance(spec.default, int | float) and not isinstance(spec.default, bool) else 0
        if base is int:
            st.number_input(spec.name, key=key, help=help_text, step=1, format="%d", placeholder=_placeholder(spec))
            return
        # a step of the default's order of magnitude: 1e-5 for lr 2e-5, 1 for 3 epochs
        step = 10.0 ** math.floor(math.log10(abs(default))) if default else 0.01
        st.number_input(spec.name, key=key, help=help_text, step=step, format="%g", placeholder=_placeholder(spec))

    def _list(self, spec: FieldSpec, base: Any, optional: bool, key: str, help_text: str | None, state: Any) -> None:
        item, _ = _list_item(base)
        if item in (int, float):
            placeholder = _placeholder(spec) or "0, 1, 2"
            st.text_input(
                spec.name, key=key, help=(help_text or "") + " Separate values with commas.", placeholder=placeholder
            )
        elif item is str:
            known = list(spec.choices) if spec.choices else (self._suggestions(spec) or [])
            options = list(dict.fromkeys([*known, *(state or [])]))
            st.multiselect(spec.name, options, key=key, help=help_text, accept_new_options=not spec.choices)
        elif typing.get_origin(item) is list:
            st.text_area(
                spec.name,
                key=key,
                height=80,
                help=(help_text or "") + " One setting per line, values separated by commas.",
                placeholder="embed.tokens, layers.0.attn\nattention",
            )
        else:
            st.text_area(spec.name, key=key, help=(help_text or "") + " (YAML list)", height=80)
