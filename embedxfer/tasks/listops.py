"""ListOps (Nangia & Bowman 2018, as used in Long Range Arena and the FPT paper), generated from a seed.

An expression is a nested list operation over digits 0-9, e.g. `[MAX 2 9 [MIN 4 7 ] 0 ]` = 9.
Operators (each token carries its opening bracket, as in LRA):
- `[MAX`, `[MIN`: largest / smallest argument;
- `[MED`: median; for an even number of arguments it is the mean of the two middle values
  rounded down (LRA's generator computes `int(np.median(...))`, i.e. floor for these
  non-negative values): MED of 2 5 is 3;
- `[SM`: sum modulo 10 ("SUM_MOD"; `[SUM_MOD` is accepted as a spelling when parsing).
`]` closes the innermost operator. The answer (0-9) is the class.

Vocabulary (token id: text): 0 pad, 1-10 the digits 0-9, 11 `[MAX`, 12 `[MIN`, 13 `[MED`,
14 `[SM`, 15 `]`; vocab_size 16. Inputs are int64 (N, L) padded with 0 on the right to the
longest expression over all splits, with true lengths; the strings are kept in `Split.texts`.

Generator (after LRA): the root is an operator; an operator takes 2..max_args arguments; each
argument is itself an operator with probability branch_p (LRA: 0.25) while depth < max_depth,
else a digit. Expressions outside [min_length, max_length] tokens are redrawn. Defaults are
small (max_length 128) so models train on a CPU; LRA used 500-2000 tokens, FPT cut at 512.
Test expressions are drawn first, then val, then train, each excluding strings already drawn,
so no test expression appears in training.
"""

from __future__ import annotations

import numpy as np

from embedxfer.errors import TaskError
from embedxfer.tasks.base import Split, Task, TaskEntry, check_float, check_int, class_counts, readonly
from embedxfer.tasks.registry import register_task

PAD = 0
OPERATORS = ("[MAX", "[MIN", "[MED", "[SM")
CLOSE = "]"
VOCAB = ["<pad>", *(str(d) for d in range(10)), *OPERATORS, CLOSE]
TOKEN_IDS = {token: i for i, token in enumerate(VOCAB)}
_ALIASES = {"[SUM_MOD": "[SM"}
# Consecutive rejected draws before the options are declared unsatisfiable: at a 1% acceptance
# rate a false alarm has odds ~1e-22, and a hopeless window fails within a fraction of a second.
_MAX_TRIES = 5000

Tree = int | tuple[str, list["Tree"]]


def apply_operator(op: str, values: list[int]) -> int:
    """The value of one operator over its evaluated arguments."""
    if not values:
        raise TaskError(f"ListOps operator {op} has no arguments.")
    if op == "[MAX":
        return max(values)
    if op == "[MIN":
        return min(values)
    if op == "[MED":
        ordered = sorted(values)
        mid = len(ordered) // 2
        # odd: the middle value; even: floor of the mean of the two middle values (int(np.median))
        return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) // 2
    if op == "[SM":
        return sum(values) % 10
    raise TaskError(f"Unknown ListOps operator {op!r}; expected one of {', '.join(OPERATORS)}.")


def evaluate(tree: Tree) -> int:
    """The value (0-9) of a parsed expression."""
    if isinstance(tree, int):
        return tree
    op, args = tree
    return apply_operator(op, [evaluate(a) for a in args])


def parse(text: str | list[str]) -> Tree:
    """Parse a whitespace-separated expression (or its token list) into a tree; TaskError if malformed."""
    tokens = text.split() if isinstance(text, str) else list(text)
    if not tokens:
        raise TaskError("ListOps expression is empty.")
    stack: list[tuple[str, list[Tree]]] = []
    result: Tree | None = None
    for position, raw in enumerate(tokens):
        token = _ALIASES.get(raw, raw)
        if result is not None:
            raise TaskError(f"ListOps expression continues after its end at token {position} ({raw!r}).")
        if token in OPERATORS:
            stack.append((token, []))
        elif token == CLOSE:
            if not stack:
                raise TaskError(f"ListOps expression closes a bracket that was never opened at token {position}.")
            node = stack.pop()
            if stack:
                stack[-1][1].append(node)
            else:
                result = node
        elif len(token) == 1 and token.isdigit():
            if not stack:
                if len(tokens) == 1:
                    return int(token)
                raise TaskError(f"ListOps digit {token} at token {position} is outside any operator.")
            stack[-1][1].append(int(token))
        else:
            raise TaskError(f"Unknown ListOps token {raw!r} at position {position}; expected digits, operators or ].")
    if stack or result is None:
        raise TaskError("ListOps expression ends before every operator is closed with ].")
    return result


def evaluate_string(text: str) -> int:
    """Parse and evaluate, e.g. evaluate_string('[MAX 2 9 [MIN 4 7 ] 0 ]') == 9."""
    return evaluate(parse(text))


def to_tokens(tree: Tree) -> list[str]:
    """The token list of a tree (inverse of `parse`)."""
    if isinstance(tree, int):
        return [str(tree)]
    op, args = tree
    out = [op]
    for arg in args:
        out.extend(to_tokens(arg))
    out.append(CLOSE)
    return out


def random_tree(rng: np.random.Generator, *, max_depth: int, max_args: int, branch_p: float, depth: int = 1) -> Tree:
    """A random expression whose root is an operator (see the module docstring)."""
    op = OPERATORS[int(rng.integers(len(OPERATORS)))]
    args: list[Tree] = []
    for _ in range(int(rng.integers(2, max_args + 1))):
        if depth < max_depth and rng.random() < branch_p:
            args.append(random_tree(rng, max_depth=max_depth, max_args=max_args, branch_p=branch_p, depth=depth + 1))
        else:
            args.append(int(rng.integers(10)))
    return (op, args)


def generate(
    n: int, rng: np.random.Generator, *, seen: set[str], min_length: int, max_length: int, **tree_options
) -> tuple[list[str], list[int]]:
    """n distinct expressions (strings not in `seen`, which is updated) with their values."""
    texts: list[str] = []
    values: list[int] = []
    tries = 0
    while len(texts) < n:
        tree = random_tree(rng, **tree_options)
        tokens = to_tokens(tree)
        text = " ".join(tokens)
        if min_length <= len(tokens) <= max_length and text not in seen:
            seen.add(text)
            texts.append(text)
            values.append(evaluate(tree))
            tries = 0
            continue
        tries += 1
        if tries > _MAX_TRIES:
            raise TaskError(
                f"ListOps options give too few distinct expressions of {min_length}-{max_length} tokens "
                f"(found {len(texts)} of {n}); widen the length range or raise max_depth / max_args / branch_p."
            )
    return texts, values


def encode(texts: list[str], width: int) -> tuple[np.ndarray, np.ndarray]:
    """Token ids int64 (N, width) padded with PAD, and lengths (N,)."""
    ids = np.full((len(texts), width), PAD, dtype=np.int64)
    lengths = np.zeros(len(texts), dtype=np.int64)
    for row, text in enumerate(texts):
        tokens = [TOKEN_IDS[_ALIASES.get(t, t)] for t in text.split()]
        ids[row, : len(tokens)] = tokens
        lengths[row] = len(tokens)
    return ids, lengths


@register_task(
    "listops",
    description="ListOps: evaluate nested MAX / MIN / MED / SUM_MOD expressions over digits (10 classes).",
    modality="tokens",
    label_kind="classes",
    metric="accuracy",
    options={
        "n_train": 10000,
        "n_val": 1000,
        "n_test": 1000,
        "seed": 0,
        "max_depth": 6,
        "max_args": 5,
        "branch_p": 0.25,
        "min_length": 20,
        "max_length": 128,
    },
    option_help={
        "n_train": "training expressions",
        "n_val": "validation expressions",
        "n_test": "test expressions",
        "seed": "generator seed (each split uses its own stream)",
        "max_depth": "deepest nesting of operators (LRA: 10)",
        "max_args": "most arguments of one operator (LRA: 10)",
        "branch_p": "chance that an argument is a nested operator (LRA: 0.25)",
        "min_length": "shortest expression in tokens (LRA: 500)",
        "max_length": "longest expression in tokens (LRA: 2000)",
    },
)
def listops(
    entry: TaskEntry,
    n_train: int = 10000,
    n_val: int = 1000,
    n_test: int = 1000,
    seed: int = 0,
    max_depth: int = 6,
    max_args: int = 5,
    branch_p: float = 0.25,
    min_length: int = 20,
    max_length: int = 128,
) -> Task:
    sizes = {
        "test": check_int("n_test", n_test, minimum=1, maximum=1_000_000),
        "val": check_int("n_val", n_val, minimum=1, maximum=1_000_000),
        "train": check_int("n_train", n_train, minimum=1, maximum=1_000_000),
    }
    seed = check_int("seed", seed, minimum=0)
    tree_options = {
        "max_depth": check_int("max_depth", max_depth, minimum=1, maximum=50),
        "max_args": check_int("max_args", max_args, minimum=2, maximum=50),
        "branch_p": check_float("branch_p", branch_p, minimum=0.0, maximum=0.9),
    }
    min_length = check_int("min_length", min_length, minimum=4)
    max_length = check_int("max_length", max_length, minimum=min_length)
    seen: set[str] = set()
    drawn = {}
    # test first: its strings are excluded from val and train
    for index, split in enumerate(("test", "val", "train")):
        rng = np.random.default_rng([seed, index])
        drawn[split] = generate(
            sizes[split], rng, seen=seen, min_length=min_length, max_length=max_length, **tree_options
        )
    width = max(len(t.split()) for texts, _ in drawn.values() for t in texts)
    splits = {}
    for split, (texts, values) in drawn.items():
        ids, lengths = encode(texts, width)
        splits[split] = Split(readonly(ids), readonly(np.array(values, dtype=np.int64)), readonly(lengths), texts)
    names = [str(d) for d in range(10)]
    all_labels = np.concatenate([s.labels for s in splits.values()])
    return entry.task(
        num_classes=10,
        label_names=names,
        train=splits["train"],
        val=splits["val"],
        test=splits["test"],
        vocab_size=len(VOCAB),
        info={
            "description": f"Nested list operations of {min_length}-{max_length} tokens; predict the value 0-9.",
            "source": "generated (after Nangia & Bowman 2018 / Long Range Arena ListOps)",
            "vocab": list(VOCAB),
            "pad_id": PAD,
            "padded_length": width,
            "class_counts": class_counts(all_labels, names),
        },
    )
