"""Which layers each condition of a reinitialization scheme reinitializes (pure: no torch, no checkpoint).

Layers are numbered 0..L-1 from the bottom (the block next to the embeddings). Every scheme also runs `keep:<L>`
(nothing reinitialized), the reference its paired differences are taken against.

- `progressive`: `keep:<k>` for k = L..0 keeps the bottom k blocks pretrained and reinitializes k..L-1
  (Tamkin et al. 2020, the paper's main curve; `keep:0` reinitializes every block).
- `progressive-bottom`: `reinit-bottom:<k>` for k = 1..L reinitializes blocks 0..k-1.
- `localized`: `block:<a>-<b>` reinitializes one block of `block_width` layers a..b (inclusive), at every start.
- `localized-inverse`: `all-but:<a>-<b>` reinitializes every block except a..b.
- `scramble`: `scramble:<n>` keeps every block pretrained but in a random order (permutation seed n); nothing is
  reinitialized.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

SCHEMES = ("progressive", "progressive-bottom", "localized", "localized-inverse", "scramble")


@dataclass(frozen=True)
class Condition:
    """One condition: its public name, the exact blocks it reinitializes, and scheme facts for the trial params."""

    name: str
    reinit: tuple[int, ...]
    facts: dict[str, Any] = field(default_factory=dict)


def reference(num_layers: int) -> Condition:
    return Condition(f"keep:{num_layers}", (), {"k": num_layers})


def conditions(scheme: str, num_layers: int, *, block_width: int = 2, permutations: int = 3) -> list[Condition]:
    """The conditions of `scheme` for a model with `num_layers` blocks, the reference `keep:<L>` first."""
    n = num_layers
    if scheme == "progressive":
        return [Condition(f"keep:{k}", tuple(range(k, n)), {"k": k}) for k in range(n, -1, -1)]
    found = [reference(n)]
    if scheme == "progressive-bottom":
        found += [Condition(f"reinit-bottom:{k}", tuple(range(k)), {"k": k}) for k in range(1, n + 1)]
    elif scheme in ("localized", "localized-inverse"):
        for start in range(n - block_width + 1):
            block = tuple(range(start, start + block_width))
            end = block[-1]
            if scheme == "localized":
                found.append(Condition(f"block:{start}-{end}", block, {"block": [start, end]}))
            else:
                rest = tuple(i for i in range(n) if i not in block)
                found.append(Condition(f"all-but:{start}-{end}", rest, {"block": [start, end]}))
    elif scheme == "scramble":
        found += [Condition(f"scramble:{p}", (), {"order": layer_order(n, p)}) for p in range(permutations)]
    else:
        raise ValueError(f"unknown scheme {scheme!r}")
    return found


def layer_order(num_layers: int, permutation: int) -> list[int]:
    """Permutation `permutation` of 0..L-1, never the identity when L > 1 (a scramble must move something)."""
    rng = np.random.default_rng([permutation, 104729])
    identity = list(range(num_layers))
    while True:
        order = [int(i) for i in rng.permutation(num_layers)]
        if order != identity or num_layers < 2:
            return order
