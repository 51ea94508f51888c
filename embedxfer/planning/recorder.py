"""What a running trial reads: the config fields its code touches, the checkpoints it resolves, the tasks it loads.

A trial is reusable exactly when what it read is unchanged, so the reuse key is recorded, not declared: while a
kind's `run_trial` runs, `recording()` collects every config field read through a `watched` view of the config,
every checkpoint id `checkpoints.resolve_id` classifies, every task `tasks.load_task` builds or serves, and every
user file a reader notes (a module file to port). A field
a kind never reads (an `eval_every` it ignores, the seed list beside the trial's own seed) cannot make a finished
trial stale, and one it reads always can (docs/architecture.md, "Reuse and estimates").

Only stdlib imports: checkpoint resolution and task loading import this module.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TrialReads:
    """What one trial read while it ran."""

    #: config field names, read through the watched view
    fields: set[str] = field(default_factory=set)
    #: checkpoint ids as the trial named them
    checkpoints: set[str] = field(default_factory=set)
    #: task key (name and options as JSON) -> (name, options)
    tasks: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    #: other files a trial reads by a path the config gives (a module to port): their content is a dependency
    files: set[str] = field(default_factory=set)


_ACTIVE: ContextVar[TrialReads | None] = ContextVar("embedxfer_trial_reads", default=None)
_VIEW_CLASSES: dict[type, type] = {}


@contextmanager
def recording() -> Iterator[TrialReads]:
    """Collect what the code in this `with` block (this thread only) reads."""
    reads = TrialReads()
    token = _ACTIVE.set(reads)
    try:
        yield reads
    finally:
        _ACTIVE.reset(token)


def note_checkpoint(checkpoint_id: str) -> None:
    """Called by checkpoint resolution: the running trial (if any) depends on this checkpoint."""
    reads = _ACTIVE.get()
    if reads is not None:
        reads.checkpoints.add(str(checkpoint_id))


def note_task(name: str, options: dict[str, Any]) -> None:
    """Called by task loading: the running trial (if any) depends on this task's content."""
    reads = _ACTIVE.get()
    if reads is not None:
        reads.tasks[task_key(name, options)] = (name, dict(options))


def note_file(path: str) -> None:
    """Called by readers of user files (porting.files.read_module): the running trial depends on their content."""
    reads = _ACTIVE.get()
    if reads is not None:
        reads.files.add(str(path))


def task_key(name: str, options: dict[str, Any]) -> str:
    """A task request as one string: its name and explicit options."""
    return json.dumps([name, options], sort_keys=True, default=str)


def watched(config: Any) -> Any:
    """A copy of dataclass `config` that notes each field read into the active recording.

    The copy is an instance of a subclass made once per config class, so isinstance checks, `dataclasses.replace`
    and `dataclasses.fields` behave as on the original; reading every field (asdict, ==, repr) notes every field.
    """
    cls = type(config)
    view_cls = _VIEW_CLASSES.get(cls)
    if view_cls is None:
        view_cls = _VIEW_CLASSES[cls] = _view_class(cls)
    view = object.__new__(view_cls)
    view.__dict__.update(config.__dict__)
    return view


def _view_class(cls: type) -> type:
    names = frozenset(f.name for f in dataclasses.fields(cls))

    def __getattribute__(self: Any, name: str) -> Any:  # noqa: N807 - the hook's own name
        if name in names:
            reads = _ACTIVE.get()
            if reads is not None:
                reads.fields.add(name)
        return object.__getattribute__(self, name)

    namespace = {"__getattribute__": __getattribute__, "__module__": cls.__module__, "__qualname__": cls.__qualname__}
    return type(cls.__name__, (cls,), namespace)
