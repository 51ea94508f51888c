"""Which experiments a pair of checkpoints supports, decided from their ArchInfo alone (no weights).

The dashboard's compatibility matrix and any pre-launch check ask the same questions: do the two
checkpoints share a vocabulary (so token-embedding rows line up), a width (so matrices and PEFT
modules fit without a projection) and a depth (so layers map one to one)? The answers come from
config files, so the whole matrix is cheap even for large checkpoints.

What each experiment kind can do with a pair is the kind's own rule (`ExperimentKind.compat`, in the
kind's package); the matrix asks every registered kind that has one. Two rows are not kinds but the
part copies of `embedxfer.parts` (token embeddings, transformer blocks), which every kind can build on.

"Same vocabulary" is judged from vocabulary size, tokenizer kind and casing. Two different
tokenizers of equal size and kind would pass, so the verdict says "likely"; the experiments that
depend on it (explorer similarity, embedding copies) map tokens by string and report mismatches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from embedxfer.checkpoints import ArchInfo
from embedxfer.checkpoints.info import same_vocabulary
from embedxfer.experiments import ExperimentKind, list_kinds
from embedxfer.experiments.outputs import Support


@dataclass(frozen=True)
class PairCompat:
    """How two checkpoints relate and which experiment kinds can compare or combine them."""

    a: str
    b: str
    same_family: bool
    same_vocab: bool
    same_width: bool
    same_depth: bool
    same_heads: bool
    #: experiment (or analysis) name -> Support, in a stable display order
    support: dict[str, Support] = field(default_factory=dict)

    def supported(self) -> list[str]:
        """Names of the experiments this pair supports at all (directly or adjusted)."""
        return [name for name, s in self.support.items() if s.level != "no"]

    def to_dict(self) -> dict:
        return {
            "a": self.a,
            "b": self.b,
            "same_family": self.same_family,
            "same_vocab": self.same_vocab,
            "same_width": self.same_width,
            "same_depth": self.same_depth,
            "same_heads": self.same_heads,
            "support": {name: {"level": s.level, "note": s.note} for name, s in self.support.items()},
        }


def pair_facts(a: ArchInfo, b: ArchInfo) -> dict[str, bool]:
    """same_family, same_vocab, same_width, same_depth and same_heads of a pair."""
    return {
        "same_family": a.family == b.family,
        "same_vocab": same_vocabulary(a, b),
        "same_width": a.hidden_size == b.hidden_size,
        "same_depth": a.num_layers == b.num_layers,
        "same_heads": a.num_heads == b.num_heads,
    }


def part_copy_support(a: ArchInfo, b: ArchInfo) -> dict[str, Support]:
    """Whether `embedxfer.parts.copy_part` can move token embeddings and transformer blocks between the pair."""
    from embedxfer.parts.resolve import FAMILIES

    unmapped = [info for info in (a, b) if info.family not in FAMILIES]
    if unmapped:  # copy_part names parts, mapped per family
        why = f"parts are mapped for the {', '.join(FAMILIES)} families, not {unmapped[0].family}"
        return {"copy embed.tokens": Support("no", why), "copy layers": Support("no", why)}
    facts = pair_facts(a, b)
    widths = f"widths differ ({a.hidden_size} vs {b.hidden_size})"
    support: dict[str, Support] = {}
    if facts["same_vocab"] and facts["same_width"]:
        support["copy embed.tokens"] = Support("yes", "same vocabulary and width")
    elif not facts["same_width"]:
        support["copy embed.tokens"] = Support("no", widths)
    else:
        support["copy embed.tokens"] = Support("no", "vocabularies differ; map tokens by string instead")
    block_fits = facts["same_family"] and facts["same_width"] and facts["same_heads"] and a.ffn_size == b.ffn_size
    if block_fits:
        support["copy layers"] = Support("yes", "same family and block shapes")
    elif not facts["same_family"]:
        support["copy layers"] = Support("no", f"families differ ({a.family} vs {b.family})")
    else:
        support["copy layers"] = Support("no", "block shapes differ (width, heads or feed-forward size)")
    return support


def pair_compat(a: ArchInfo, b: ArchInfo) -> PairCompat:
    """The relation between checkpoints `a` and `b` and what each registered kind (and part copying) can do."""
    support = {kind.name: _kind_support(kind, a, b) for kind in list_kinds() if kind.compat is not None}
    support.update(part_copy_support(a, b))
    return PairCompat(a.id, b.id, **pair_facts(a, b), support=support)


def _kind_support(kind: ExperimentKind, a: ArchInfo, b: ArchInfo) -> Support:
    """The kind's own pair rule, after its rule for each checkpoint alone (a parts-by-name kind on an unmapped
    family says so here too, as in the catalog)."""
    from embedxfer.experiments.serves import kind_reason

    for info in (a, b):
        why = kind_reason(kind, info)
        if why:
            return Support("no", why)
    return kind.compat(a, b)


def compat_matrix(infos: Sequence[ArchInfo]) -> list[PairCompat]:
    """`pair_compat` for every unordered pair of distinct checkpoints, in input order."""
    return [pair_compat(a, b) for i, a in enumerate(infos) for b in infos[i + 1 :]]
