"""Which origin layer's module goes into each receiving layer when two hosts differ in depth.

A layer map is a list with one entry per receiving layer: the origin layer whose tensors it takes, or None (that
layer keeps a freshly initialised module). Named maps:

- `first`: receiving layer j takes origin layer j (bottoms aligned; a deeper receiver's top layers get nothing);
- `last`: tops aligned (receiving layer j takes origin layer j + L_origin - L_receiver);
- `spread`: first and last layers aligned, the rest evenly between: receiving layer j takes origin layer
  round(j * (L_origin - 1) / (L_receiver - 1)), halves rounded up (6 -> 3: 0, 3, 5; 3 -> 6: 0, 0, 1, 1, 2, 2);
  a one-layer receiver takes the middle origin layer.

An explicit map is text such as "0, 3, 5" (use "-" for a layer that takes nothing): one entry per receiving layer,
each an origin layer index used at most once. With equal depths every named map is the identity.
"""

from __future__ import annotations

import math

from embedxfer.errors import ConfigError

NAMED_MAPS = ("first", "spread", "last")
_NONE = ("-", "none", "null")


def parse_layer_map(text: str) -> str | list[int | None]:
    """A named map, or an explicit one as a list; ConfigError for anything else (checked again per host pair)."""
    text = str(text).strip()
    if text in NAMED_MAPS:
        return text
    pieces = [p.strip() for p in text.strip("[]").replace(";", ",").split(",")]
    if not text or not all(pieces):
        raise ConfigError(
            f"Field 'layer_map' is {text!r}: use first, spread, last, or one origin layer per receiving layer such as "
            "'0, 3, 5' ('-' for a layer that takes nothing)."
        )
    entries: list[int | None] = []
    for piece in pieces:
        if piece.lower() in _NONE:
            entries.append(None)
            continue
        try:
            entries.append(int(piece))
        except ValueError:
            raise ConfigError(
                f"Field 'layer_map': {piece!r} is not a layer index; write e.g. '0, 3, 5' or a named map "
                f"({', '.join(NAMED_MAPS)})."
            ) from None
    used = [e for e in entries if e is not None]
    if any(e < 0 for e in used):
        raise ConfigError(f"Field 'layer_map' has a negative layer index in {text!r}; layers count from 0.")
    repeated = sorted({e for e in used if used.count(e) > 1})
    if repeated:
        raise ConfigError(
            f"Field 'layer_map' uses origin layer {repeated[0]} more than once ({text!r}); an explicit map gives each "
            "origin layer to at most one receiving layer (use spread to share layers)."
        )
    if not used:
        raise ConfigError(f"Field 'layer_map' ({text!r}) ports nothing: name at least one origin layer.")
    return entries


def resolve_layer_map(spec: str | list[int | None], origin_layers: int, receiver_layers: int) -> list[int | None]:
    """The map for one host pair: entry j = the origin layer receiving layer j takes (None: none)."""
    if isinstance(spec, list):
        if len(spec) != receiver_layers:
            raise ConfigError(
                f"Field 'layer_map' lists {len(spec)} layers, but the receiving host has {receiver_layers}; give one "
                "origin layer (or '-') per receiving layer."
            )
        bad = [e for e in spec if e is not None and not 0 <= e < origin_layers]
        if bad:
            raise ConfigError(
                f"Field 'layer_map' names origin layer {bad[0]}, but the origin host has {origin_layers} layers "
                f"(0 to {origin_layers - 1})."
            )
        return list(spec)
    if spec == "first":
        return [j if j < origin_layers else None for j in range(receiver_layers)]
    if spec == "last":
        shift = origin_layers - receiver_layers
        return [j + shift if j + shift >= 0 else None for j in range(receiver_layers)]
    if spec == "spread":
        if receiver_layers == 1:
            return [(origin_layers - 1) // 2]
        scale = (origin_layers - 1) / (receiver_layers - 1)
        return [min(origin_layers - 1, math.floor(j * scale + 0.5)) for j in range(receiver_layers)]
    raise ConfigError(f"Unknown layer map {spec!r}; use {', '.join(NAMED_MAPS)} or an explicit list.")


def describe_layer_map(mapping: list[int | None]) -> str:
    """'0<-0, 1<-3, 2<-5' (receiving layer <- origin layer; 'none' where a layer takes nothing)."""
    return ", ".join(f"{j}<-{'none' if o is None else o}" for j, o in enumerate(mapping))
