"""The task registry: builders register a name, `load_task` resolves options and caches the result.

Adding a task = one module with a builder decorated by `@register_task(...)`, plus its module name in
`BUILTIN_TASK_MODULES` (the same `embedxfer.registry.Registry` mechanism as experiment kinds). A builder is
called as `builder(entry, **options)` and builds its Task with `entry.task(...)`, so the facts given to
`register_task` (name, modality, label kind, metric) are written once. Loaded tasks are cached per (name,
resolved options), so the dashboard can call `load_task` on every rerun; callers get a copy they may modify.

Task names: a registered name (``tweets-binary``), optionally with options (``bit-memory?n_bits=100&patch=10``:
values read as the type of the option's default), a user file ``file:PATH?text=COL&label=COL[&kind=regression]``
(text / label default to columns called ``text`` and ``label``), or a Hugging Face dataset ``hf:NAME?text=COL``.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from embedxfer.errors import TaskError
from embedxfer.planning.recorder import note_task
from embedxfer.registry import Registry
from embedxfer.tasks.base import LABEL_KINDS, METRICS, MODALITIES, Task, TaskEntry

BUILTIN_TASK_MODULES = tuple(
    f"embedxfer.tasks.{module}" for module in ("tweets", "valence", "digits", "synthetic", "listops", "files")
)
#: The task-name syntax for user files, shown by `embedxfer tasks` and in errors.
FILE_SYNTAX = "file:PATH?text=COL&label=COL (text/label default to columns named text and label; &kind=regression)"
_NAME_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
# Enough for every built-in task at its defaults plus a few option variants; bit-memory at
# 1000 bits is the largest entry (~100 MB), so the cache must not grow without bound.
_CACHE_SIZE = 12
# Short keys accepted in "file:/data.csv?text=review&label=stars" and "hf:imdb?label=label" names.
_QUERY_ALIASES = {"text": "text_column", "label": "label_column", "kind": "label_kind"}
_ALIAS_OF = {option: alias for alias, option in _QUERY_ALIASES.items()}


@dataclass(frozen=True)
class _Registered:
    entry: TaskEntry
    builder: Callable[..., Task]
    required: tuple[str, ...]
    listed: bool
    fingerprint: Callable[[dict], Any] | None
    module: str


def _unknown_task(name: str, known: list[str]) -> TaskError:
    listed = ", ".join(n for n in known if _REGISTRY.get(n).listed)
    return TaskError(f"Unknown task {name!r}; choose one of: {listed}, or {FILE_SYNTAX}, or 'hf:DATASET'.")


_REGISTRY: Registry[_Registered] = Registry("task", BUILTIN_TASK_MODULES, _unknown_task)
_CACHE: OrderedDict[tuple, Task] = OrderedDict()
_LOCK = threading.Lock()


def register_task(
    name: str,
    *,
    description: str,
    modality: str,
    label_kind: str,
    metric: str,
    options: dict[str, Any] | None = None,
    option_help: dict[str, str] | None = None,
    required: tuple[str, ...] = (),
    listed: bool = True,
    fingerprint: Callable[[dict], Any] | None = None,
) -> Callable[[Callable[..., Task]], Callable[..., Task]]:
    """Register `builder(entry, **options) -> Task` under `name`.

    `options` maps each accepted option to its default; `required` names options without a
    default. `listed=False` keeps data sources that need options (user files, HF datasets) out
    of the plain `list_tasks()`. `fingerprint(options)` adds to the cache key what the options
    alone do not capture (a file's modification time).
    """
    if not _NAME_RE.match(name):
        raise ValueError(f"task name {name!r} must be lowercase words joined by '-'")
    for value, allowed, what in ((modality, MODALITIES, "modality"), (label_kind, LABEL_KINDS, "label_kind")):
        if value not in allowed:
            raise ValueError(f"task {name!r}: {what} {value!r} not in {allowed}")
    if metric not in METRICS:
        raise ValueError(f"task {name!r}: metric {metric!r} not in {METRICS}")
    options = dict(options or {})
    for option in required:
        options.setdefault(option, None)
    entry = TaskEntry(name, description, modality, label_kind, metric, options, dict(option_help or {}))

    def decorate(builder: Callable[..., Task]) -> Callable[..., Task]:
        _REGISTRY.register(name, _Registered(entry, builder, tuple(required), listed, fingerprint, builder.__module__))
        return builder

    return decorate


def list_tasks(*, include_sources: bool = False) -> list[TaskEntry]:
    """Every registered task, without loading data. `include_sources` adds "file" and "hf"."""
    # A stable order (built-in modules first, in their listed order) whatever was imported first.
    modules = list(BUILTIN_TASK_MODULES)
    regs = sorted(
        enumerate(_REGISTRY),
        key=lambda item: (modules.index(item[1].module) if item[1].module in modules else len(modules), item[0]),
    )
    return [reg.entry for _, reg in regs if reg.listed or include_sources]


def task_names(*, include_sources: bool = False) -> list[str]:
    """Names of the registered tasks."""
    return [entry.name for entry in list_tasks(include_sources=include_sources)]


def get_entry(name: str) -> TaskEntry:
    """The registry entry for `name` (a plain task name, not a "file:"/"hf:" spec)."""
    return _lookup(name).entry


def _lookup(name: str) -> _Registered:
    if not isinstance(name, str):
        raise TaskError(f"A task name must be text, not {name!r}.")
    return _REGISTRY.get(name)


def task_metric(name: str) -> str:
    """The metric a task is scored by (accuracy or pearson), from its name alone: no data is loaded. A user file
    or dataset is scored by pearson when its name asks for regression (``&kind=regression``)."""
    try:
        base_name, options = parse_task_name(name)
        reg = _lookup(base_name)
    except TaskError:
        return "accuracy"
    if "label_kind" in reg.entry.options:  # file / hf: the label kind is an option
        return "pearson" if options.get("label_kind", reg.entry.options["label_kind"]) == "regression" else "accuracy"
    return reg.entry.metric


def parse_task_name(name: str) -> tuple[str, dict[str, Any]]:
    """Split "file:/x.csv?text=a&label=b" / "hf:imdb?text=a" specs into a task name and options."""
    if not isinstance(name, str):
        raise TaskError(f"A task name must be text, not {name!r}.")
    for prefix, first_option in (("file:", "path"), ("hf:", "dataset")):
        if name.startswith(prefix):
            rest = name[len(prefix) :]
            target, _, query = rest.partition("?")
            if not target:
                raise TaskError(f"Task {name!r} names no {first_option}; write e.g. '{prefix}...?text=COL&label=COL'.")
            options: dict[str, Any] = {first_option: target}
            for key, value in parse_qsl(query, keep_blank_values=True):
                options[_QUERY_ALIASES.get(key, key)] = value
            return prefix[:-1], options
    base, _, query = name.partition("?")
    return base, dict(parse_qsl(query, keep_blank_values=True))


def _typed_options(name: str, options: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """Options written in a task name (text) read as the type of each option's default (int, float, bool)."""
    typed = {}
    for key, value in options.items():
        default = defaults.get(key)
        if not isinstance(value, str) or isinstance(default, str) or default is None:
            typed[key] = value
            continue
        try:
            if isinstance(default, bool):
                if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                    raise ValueError(value)
                typed[key] = value.lower() in ("true", "1", "yes")
            else:
                typed[key] = type(default)(value)
        except ValueError:
            kind = {bool: "true or false", int: "a whole number"}.get(type(default), "a number")
            raise TaskError(f"Option {key!r} of task {name!r} must be {kind}, got {value!r}.") from None
    return typed


def resolve_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Defaults filled in; TaskError for an unknown or missing option."""
    reg = _lookup(name)
    accepted = reg.entry.options
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        listed = ", ".join(accepted) or "none"
        raise TaskError(f"Task {name!r} has no option {unknown[0]!r}; its options are: {listed}.")
    resolved = {**accepted, **options}
    missing = [opt for opt in reg.required if resolved.get(opt) in (None, "")]
    if missing:
        option = missing[0]
        alias = _ALIAS_OF.get(option)
        how = f" (write {name}:...?{alias}=...)" if alias and name in ("file", "hf") else ""
        raise TaskError(f"Task {name!r} needs the option {alias or option!r}{how}.")
    return resolved


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value if isinstance(value, str | int | float | bool | type(None)) else repr(value)


def load_task(name: str, /, **options: Any) -> Task:
    """Load a task by name ("digits", "file:/x.csv?text=a&label=b", "hf:imdb") with options.

    Results are cached per (name, resolved options); the returned task is a copy whose numpy
    arrays are shared and read-only.
    """
    note_task(name, options)  # a running trial depends on this task's content (planning/recorder.py)
    base_name, spec_options = parse_task_name(name)
    reg = _lookup(base_name)
    spec_options = _typed_options(base_name, spec_options, reg.entry.options)
    resolved = resolve_options(base_name, {**spec_options, **options})
    key: tuple = (base_name, _freeze(resolved))
    if reg.fingerprint is not None:
        key += (_freeze(reg.fingerprint(resolved)),)
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            _CACHE.move_to_end(key)
            return cached.copy()
    # Built outside the lock so a slow load does not block other tasks; a rare double build is harmless.
    task = reg.builder(reg.entry, **resolved)
    task.info.setdefault("options", dict(resolved))
    with _LOCK:
        _CACHE[key] = task
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return task.copy()


def clear_cache() -> None:
    """Forget every loaded task (tests; after editing a data file in place the mtime already does this)."""
    with _LOCK:
        _CACHE.clear()
