"""Which (i, j) layer pairs a stitching config asks for, and the condition names they become.

Indices are hidden states on the layer axis every kind shares (docs/architecture.md, "layer_reinit and probing"):
0 = the embedding output, k = the output of block k, L = the last hidden state. Stitch (i, j) feeds A's hidden
state i to B's block j, so B runs blocks j..L-1 on it (j = L: the stitch output is B's last hidden state).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from embedxfer.errors import ConfigError
from embedxfer.experiments.stitching.config import BEST_PREFIX, DEPTH

if TYPE_CHECKING:
    from embedxfer.checkpoints import ArchInfo

IDENTITY = "identity"
RANDOM_STITCH = "random-stitch"
B_ALONE = "b-alone"
STITCH_PREFIX = "stitch:"


def stitch_condition(i: int, j: int) -> str:
    """The public condition name of a trained stitch from A's hidden state i into B's block j."""
    return f"{STITCH_PREFIX}{i}->{j}"


def depth_pairs(layers_a: int, layers_b: int) -> list[tuple[int, int]]:
    """Every hidden state i of A (0..L_A) with B's hidden state at the same relative depth, rounded half up (so
    A's middle maps to B's middle when the depths divide evenly, and i = L_A always meets j = L_B)."""
    return [(i, math.floor(i * layers_b / layers_a + 0.5)) for i in range(layers_a + 1)]


def resolve_pairs(pairs: str | list[list[int]], a: ArchInfo, b: ArchInfo) -> list[tuple[int, int]]:
    """The (i, j) pairs of `pairs` for A = `a` and B = `b`; ConfigError (one sentence) for a pair outside either
    model's depth, or whatever the layer_similarity experiment behind `best:` cannot give."""
    if pairs == DEPTH:
        return depth_pairs(a.num_layers, b.num_layers)
    if isinstance(pairs, str) and pairs.startswith(BEST_PREFIX):
        found = _best_pairs(pairs.removeprefix(BEST_PREFIX), a.id, b.id)
    else:
        found = [(int(i), int(j)) for i, j in pairs]
    for i, j in found:
        if not (0 <= i <= a.num_layers and 0 <= j <= b.num_layers):
            raise ConfigError(
                f"Field 'pairs' has [{i}, {j}], outside the models' depth: i must be 0..{a.num_layers} (hidden "
                f"states of A, {a.id}) and j 0..{b.num_layers} (hidden states of B, {b.id})."
            )
    return found


def _best_pairs(experiment_id: str, checkpoint_a: str, checkpoint_b: str) -> list[tuple[int, int]]:
    """The pairs a layer_similarity experiment found best for (A, B); that kind owns the rule and its refusals."""
    from embedxfer.experiments.layer_similarity.pairs import best_pairs

    found = [(int(i), int(j)) for i, j in best_pairs(experiment_id, checkpoint_a, checkpoint_b)]
    if not found:
        raise ConfigError(
            f"Layer_similarity experiment {experiment_id} gives no layer pairs for {checkpoint_a} and "
            f"{checkpoint_b}; use depth or a list of [i, j] pairs."
        )
    return list(dict.fromkeys(found))
