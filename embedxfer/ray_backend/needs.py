"""What a config's trials need on the node that runs them, and whether a node has it.

Bundled checkpoints come with pip packages, so a node has them when embedxfer's requirements are installed
there. A local checkpoint folder, a data file behind a ``file:`` task or a module file (module_porting's
`origin_module`) must sit at the same path on every node (a shared filesystem, or copied beforehand):
the backend checks that before it submits anything and names what is missing where, instead of shipping
files (folders of weights are too large for Ray's object store to be a good carrier). ``hub:`` checkpoints
are downloaded by each node and are not checked.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from embedxfer.errors import EmbedxferError
from embedxfer.experiments.registry import mentioned


@dataclass(frozen=True)
class Need:
    """One thing a node must have: ``what`` is "bundled checkpoint", "checkpoint folder", "data file" or "file";
    ``value`` is how the config names it; ``path`` the absolute path (None for a bundled checkpoint)."""

    what: str
    value: str
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        return f"{self.what} {self.value}" + (f" ({self.path})" if self.path and self.path != self.value else "")


def config_needs(config: dict[str, Any]) -> list[Need]:
    """The needs of a stored config (a dict with ``kind``), each once."""
    from embedxfer.checkpoints.resolve import resolve_id
    from embedxfer.tasks.registry import parse_task_name

    needs: list[Need] = []
    covered: set[str] = set()
    for value in mentioned(config, ("checkpoint", "checkpoints")):
        covered.add(value)
        try:
            resolved = resolve_id(value)
        except EmbedxferError:
            continue  # planning already refused it, or it is not a checkpoint of this kind's
        if resolved.kind == "bundled":
            needs.append(Need("bundled checkpoint", value))
        elif resolved.kind == "folder":
            needs.append(Need("checkpoint folder", value, resolved.key))
    for value in mentioned(config, ("task", "tasks")):
        covered.add(value)
        name, options = parse_task_name(value)
        if name == "file" and options.get("path"):
            needs.append(Need("data file", value, str(Path(str(options["path"])).expanduser().resolve())))
    for value in _strings(config):
        if value not in covered and _is_local_path(value):
            needs.append(Need("file", value, str(Path(value).expanduser().resolve())))
    return list(dict.fromkeys(needs))


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


def _is_local_path(text: str) -> bool:
    """An absolute or home-relative path that exists here (other strings in a config are names and numbers)."""
    if not text.startswith(("/", "~")) or "\n" in text:
        return False
    try:
        return Path(text).expanduser().exists()
    except OSError:
        return False


def missing_here(needs: list[dict[str, Any]]) -> list[str]:
    """Run on a node: the descriptions of the needs this node lacks."""
    from embedxfer.checkpoints.bundled import locate

    missing = []
    for data in needs:
        need = Need(**data)
        if need.path is None:
            try:
                locate(need.value)
            except EmbedxferError:
                missing.append(need.describe() + ": its pip package is not installed")
        elif not os.path.exists(need.path):
            missing.append(need.describe())
    return missing
