"""A checkpoint's token table (every row of its token-embedding matrix with its token string and kind), and the
alignment of two vocabularies by token string.

Tokens are compared by their *surface*: the text they stand for, with a leading space for a token that starts a
word. WordPiece marks continuations (`##ing` -> `ing`, `good` -> ` good`), byte-level BPE marks word starts
(`Ġgood` -> ` good`, bytes decoded), SentencePiece too (`▁good` -> ` good`). So minilm's `good` and smollm2's
`Ġgood` align, and casing is kept: an uncased vocabulary matches only the lowercase tokens of a cased one.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from embedxfer.errors import CheckpointError, ConfigError
from embedxfer.paths import cache_dir, write_atomic

#: Token kinds, in the order a legend shows them.
TOKEN_KINDS = ("word start", "continuation", "digit", "punctuation", "special")
_FORMAT = 1
_SPECIAL = re.compile(r"^(\[[A-Za-z_]+[0-9]*\]|<\|?[^<>]*\|?>|<[a-z]+>)$")
_LOCK = threading.Lock()
_TABLES: dict[tuple[str, str], TokenTable] = {}


@dataclass(frozen=True)
class TokenTable:
    """Every row of a checkpoint's input-embedding matrix: its token, surface form and kind."""

    checkpoint: str
    fingerprint: str
    tokens: list[str]  # the tokenizer's own strings, by row (`<row N>` for rows no token uses)
    surfaces: list[str]  # what each token stands for; a leading space = starts a word
    kinds: list[str]  # one of TOKEN_KINDS per row
    matrix: np.ndarray  # (rows, width) float32

    @property
    def rows(self) -> int:
        return len(self.tokens)

    def index(self) -> dict[str, int]:
        """Token string -> row (the first row of a duplicated string)."""
        out: dict[str, int] = {}
        for row, token in enumerate(self.tokens):
            out.setdefault(token, row)
        return out


def _byte_decoder() -> dict[str, int]:
    """The inverse of byte-level BPE's bytes -> printable characters table (GPT-2's scheme)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = list(printable), 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


_BYTES = _byte_decoder()


def tokenizer_style(tokens: list[str]) -> str:
    """'wordpiece', 'byte-bpe' or 'sentencepiece', from the markers the vocabulary uses."""
    sample = tokens[: min(len(tokens), 50000)]
    counts = {
        "wordpiece": sum(t.startswith("##") for t in sample),
        "byte-bpe": sum(t.startswith("Ġ") for t in sample),
        "sentencepiece": sum(t.startswith("▁") for t in sample),
    }
    style = max(counts, key=counts.get)
    return style if counts[style] else "wordpiece"


def surface_of(token: str, style: str) -> str:
    """The text a token stands for, a leading space meaning 'starts a word' (see the module doc)."""
    if style == "wordpiece":
        return token[2:] if token.startswith("##") and len(token) > 2 else " " + token
    if style == "sentencepiece":
        return token.replace("▁", " ")
    if all(ch in _BYTES for ch in token):
        return bytes(_BYTES[ch] for ch in token).decode("utf-8", errors="replace")
    return token


def token_kind(token: str, surface: str, special: bool) -> str:
    """word start / continuation / digit / punctuation / special, for one token."""
    if special or _SPECIAL.match(token):
        return "special"
    text = surface.strip()
    if text and text.isdigit():
        return "digit"
    if text and not any(ch.isalnum() for ch in text):
        return "punctuation"
    if not text:
        return "punctuation"  # whitespace-only tokens (newlines, tabs) sit with the punctuation
    return "word start" if surface.startswith(" ") else "continuation"


def describe_tokens(tokens: list[str], specials: set[str]) -> tuple[list[str], list[str]]:
    """Surfaces and kinds of a whole vocabulary."""
    style = tokenizer_style(tokens)
    surfaces = [surface_of(t, style) for t in tokens]
    kinds = [token_kind(t, s, t in specials) for t, s in zip(tokens, surfaces, strict=True)]
    return surfaces, kinds


def token_table(checkpoint: str) -> TokenTable:
    """The token table of `checkpoint`, read once from its files and then from the on-disk cache (no model load)."""
    from embedxfer.checkpoints import checkpoint_fingerprint

    fingerprint = checkpoint_fingerprint(checkpoint)
    key = (checkpoint, fingerprint)
    with _LOCK:
        if key in _TABLES:
            return _TABLES[key]
    folder = cache_dir("token_tables", f"{fingerprint}-v{_FORMAT}")
    if (folder / "tokens.json").exists() and (folder / "matrix.npy").exists():
        meta = json.loads((folder / "tokens.json").read_text())
        matrix = np.load(folder / "matrix.npy", mmap_mode="r")
        table = TokenTable(checkpoint, fingerprint, meta["tokens"], meta["surfaces"], meta["kinds"], matrix)
    else:
        table = _read_table(checkpoint, fingerprint)
        write_atomic(folder / "tokens.json", {"tokens": table.tokens, "surfaces": table.surfaces, "kinds": table.kinds})
        with open(folder / ".matrix.npy.tmp", "wb") as handle:
            np.save(handle, table.matrix)
        (folder / ".matrix.npy.tmp").replace(folder / "matrix.npy")
    with _LOCK:
        _TABLES[key] = table
    return table


def _read_table(checkpoint: str, fingerprint: str) -> TokenTable:
    from embedxfer.checkpoints import load_checkpoint

    loaded = load_checkpoint(checkpoint)
    try:
        embeddings = loaded.model.get_input_embeddings()
    except (AttributeError, NotImplementedError):
        embeddings = None
    weight = getattr(embeddings, "weight", None)
    if weight is None or weight.ndim != 2:
        raise CheckpointError(
            f"Checkpoint {checkpoint!r} has no token-embedding table (its model exposes no input embedding matrix); "
            "the embedding kinds need one: pick a checkpoint with a token vocabulary."
        )
    matrix = weight.detach().float().cpu().numpy().copy()
    tokenizer = loaded.tokenizer
    named = tokenizer.convert_ids_to_tokens(list(range(min(len(tokenizer), matrix.shape[0]))))
    tokens = [t if t is not None else f"<row {i}>" for i, t in enumerate(named)]
    tokens += [f"<row {i}>" for i in range(len(tokens), matrix.shape[0])]  # padded rows no token uses
    specials = set(tokenizer.all_special_tokens) | {t for t in tokens if t.startswith("<row ")}
    surfaces, kinds = describe_tokens(tokens, specials)
    return TokenTable(checkpoint, fingerprint, tokens, surfaces, kinds, matrix)


@dataclass(frozen=True)
class Alignment:
    """Rows of two vocabularies that stand for the same text, in a's row order."""

    rows_a: np.ndarray
    rows_b: np.ndarray
    surfaces: list[str]
    only_a: int  # a's distinct surfaces with no partner in b
    only_b: int

    @property
    def shared(self) -> int:
        return len(self.rows_a)


def _first_rows(surfaces: list[str], kinds: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for row, (surface, kind) in enumerate(zip(surfaces, kinds, strict=True)):
        # punctuation matches whatever its spacing (WordPiece always splits it off, BPE glues it to the word);
        # special tokens have no text to match ([CLS] vs <|endoftext|>), nor do whitespace-only tokens
        key = surface.strip() if kind == "punctuation" else surface
        if kind != "special" and key:
            out.setdefault(key, row)
    return out


def align(surfaces_a: list[str], kinds_a: list[str], surfaces_b: list[str], kinds_b: list[str]) -> Alignment:
    """Pair up the rows of two vocabularies by surface (first row of a duplicated surface; specials never pair;
    punctuation pairs without its leading space)."""
    first_a, first_b = _first_rows(surfaces_a, kinds_a), _first_rows(surfaces_b, kinds_b)
    shared = [s for s in first_a if s in first_b]
    return Alignment(
        rows_a=np.array([first_a[s] for s in shared], dtype=np.int64),
        rows_b=np.array([first_b[s] for s in shared], dtype=np.int64),
        surfaces=shared,
        only_a=len(first_a) - len(shared),
        only_b=len(first_b) - len(shared),
    )


def align_tables(a: TokenTable, b: TokenTable) -> Alignment:
    """`align` for two token tables; ConfigError when they share no token at all."""
    alignment = align(a.surfaces, a.kinds, b.surfaces, b.kinds)
    if not alignment.shared:
        raise ConfigError(
            f"{a.checkpoint} and {b.checkpoint} share no token (compared by the text each token stands for), so "
            "there is nothing to compare row by row; pick checkpoints whose tokenizers overlap."
        )
    return alignment


@lru_cache(maxsize=8)
def _surface_index(surfaces: tuple[str, ...]) -> dict[str, int]:
    out: dict[str, int] = {}
    for row, s in enumerate(surfaces):
        out.setdefault(s, row)
    return out


def find_token(table: TokenTable, query: str) -> int | None:
    """The row of `query`: an exact token string first, then its surface as a word start, then as any surface."""
    exact = table.index().get(query)
    if exact is not None:
        return exact
    index = _surface_index(tuple(table.surfaces))
    for candidate in (" " + query.strip(), query, query.strip()):
        if candidate in index:
            return index[candidate]
    return None


def close_matches(table: TokenTable, query: str, n: int = 5) -> list[str]:
    """Tokens spelled like `query` (for 'did you mean'), as the tokenizer writes them."""
    import difflib

    words = {s.strip(): row for row, s in reversed(list(enumerate(table.surfaces))) if s.strip()}
    found = difflib.get_close_matches(query.strip(), list(words), n=n, cutoff=0.6)
    return [table.tokens[words[w]] for w in found]
