"""Finding an experiment that already answers a request: the Explorer page opens a computed map instead of
queueing the same one again."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from embedxfer.store import Store

#: Statuses whose results a request may reuse: finished, or on its way.
REUSABLE = ("completed", "running", "queued")


def _canonical(config: dict[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, default=str)


def find_experiment(store: Store, config: dict[str, Any]) -> dict[str, Any] | None:
    """The newest experiment with exactly this stored config that completed or is still running (completed ones
    first), or None."""
    wanted = _canonical(config)
    matches = [
        exp
        for exp in store.list_experiments(kind=config["kind"], limit=None)
        if exp["status"] in REUSABLE and _canonical(exp["config"]) == wanted
    ]
    matches.sort(key=lambda exp: exp["status"] != "completed")  # stable: newest completed, then newest active
    return matches[0] if matches else None
