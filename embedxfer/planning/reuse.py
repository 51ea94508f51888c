"""Reusing finished trials: which completed trial in the store each trial of a plan can take its results from.

A trial reuses a completed trial with the same identity (kind, condition, params, seed, embedxfer version) whose
recorded dependencies still hold for the new config: the same values of the config fields it read, the same
weights fingerprints of the checkpoints it resolved, the same content hashes of the tasks it loaded
(planning/keys.py). Failed, diverged, cancelled and interrupted trials are never sources.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedxfer.planning.keys import Identities, identity_key, still_holds

if TYPE_CHECKING:
    from embedxfer.experiments import ExperimentPlan
    from embedxfer.store import Store


def identities(plan: ExperimentPlan) -> list[str]:
    """Each trial's identity key, in plan order."""
    return [identity_key(plan.kind.name, spec) for spec in plan.trials]


def reusable_sources(store: Store, plan: ExperimentPlan) -> list[str | None]:
    """Per trial of `plan`, in order: the id of a completed trial whose results it can reuse, or None."""
    keys = identities(plan)
    candidates = store.reuse_candidates(keys)
    if not candidates:
        return [None] * len(keys)
    known = Identities()  # each fingerprint and task hash computed once
    sources: list[str | None] = []
    for key in keys:
        match = next(
            (trial_id for trial_id, deps in candidates.get(key, []) if still_holds(deps, plan.config, known)), None
        )
        sources.append(match)
    return sources
