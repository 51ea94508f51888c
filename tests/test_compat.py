"""Pair compatibility from ArchInfo alone: which experiments two checkpoints support.

Kinds bring their own rules (`ExperimentKind.compat`); `pair_kind` below is a throwaway kind whose rule needs
equal widths, registered for this module only. Part copies (token embeddings, blocks) are always judged.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from embedxfer.checkpoints import ArchInfo
from embedxfer.compat import Support, compat_matrix, pair_compat

BERT = ArchInfo(
    id="a",
    family="bert",
    model_type="bert",
    num_layers=6,
    hidden_size=384,
    num_heads=12,
    ffn_size=1536,
    vocab_size=30522,
    tokenizer_kind="wordpiece",
    cased=False,
    max_positions=512,
    num_parameters=22_000_000,
    source="test",
    is_causal=False,
)


def _width_rule(a: ArchInfo, b: ArchInfo) -> Support:
    if a.hidden_size != b.hidden_size:
        return Support("no", f"widths differ ({a.hidden_size} vs {b.hidden_size})")
    if a.num_layers != b.num_layers:
        return Support("adjusted", f"a layer map ({a.num_layers} vs {b.num_layers} layers)")
    return Support("yes", "same width and depth")


@pytest.fixture(autouse=True, scope="module")
def pair_kind():
    from embedxfer.experiments import ExperimentKind, get_kind, register_kind, unregister_kind

    finetune = get_kind("finetune")
    kind = register_kind(
        ExperimentKind(
            "pair_test",
            finetune.config_cls,
            finetune.expand,
            finetune.run_trial,
            "pair rule test",
            finetune.card,
            compat=_width_rule,
        )
    )
    yield kind
    unregister_kind("pair_test")


def levels(pair) -> dict[str, str]:
    return {name: s.level for name, s in pair.support.items()}


def test_identical_architectures_support_everything():
    pair = pair_compat(BERT, replace(BERT, id="b"))
    assert (pair.same_vocab, pair.same_width, pair.same_depth, pair.same_family) == (True, True, True, True)
    assert set(levels(pair).values()) == {"yes"}
    assert pair.supported() == list(pair.support)


def test_shallower_same_width_needs_a_layer_map():
    pair = pair_compat(BERT, replace(BERT, id="l3", num_layers=3))
    assert not pair.same_depth and pair.same_width and pair.same_vocab
    assert levels(pair)["pair_test"] == "adjusted"
    assert "6 vs 3 layers" in pair.support["pair_test"].note
    assert levels(pair)["copy embed.tokens"] == "yes"
    assert levels(pair)["copy layers"] == "yes"  # blocks have the same shapes, only fewer of them


def test_different_width_and_vocab():
    llama = replace(
        BERT,
        id="llama",
        family="llama",
        model_type="llama",
        num_layers=30,
        hidden_size=576,
        num_heads=9,
        ffn_size=1536,
        vocab_size=49152,
        tokenizer_kind="byte-bpe",
        cased=True,
    )
    pair = pair_compat(BERT, llama)
    assert not (pair.same_vocab or pair.same_width or pair.same_depth or pair.same_family)
    # only registered kinds with a rule (not finetune: one checkpoint at a time; not planned kinds) and part copies
    assert levels(pair) == {
        "probing": "adjusted",
        "layer_similarity": "adjusted",
        "stitching": "no",
        "embedding_map": "adjusted",
        "embedding_similarity": "adjusted",
        "embedding_transfer": "adjusted",
        "module_porting": "no",
        "pair_test": "no",
        "copy embed.tokens": "no",
        "copy layers": "no",
    }
    assert "384 vs 576" in pair.support["pair_test"].note
    assert "PCA to the smaller" in pair.support["embedding_similarity"].note
    assert "pca:384" in pair.support["embedding_transfer"].note
    # probing compares any depths side by side; the explorer aligns vocabularies by token text
    assert pair.supported() == [
        "probing",
        "layer_similarity",
        "embedding_map",
        "embedding_similarity",
        "embedding_transfer",
    ]
    assert "tokeniz" in pair.support["stitching"].note  # a token-level stitch needs one tokenizer


def test_same_size_vocab_with_other_casing_is_not_the_same_vocabulary():
    pair = pair_compat(BERT, replace(BERT, id="cased", cased=True))
    assert not pair.same_vocab
    assert levels(pair)["copy embed.tokens"] == "no"
    assert "vocabularies differ" in pair.support["copy embed.tokens"].note


def test_matrix_covers_each_unordered_pair_once():
    infos = [replace(BERT, id=str(i)) for i in range(4)]
    pairs = compat_matrix(infos)
    assert [(p.a, p.b) for p in pairs] == [("0", "1"), ("0", "2"), ("0", "3"), ("1", "2"), ("1", "3"), ("2", "3")]
    assert pairs[0].to_dict()["support"]["pair_test"]["level"] == "yes"


def test_support_rejects_unknown_level():
    with pytest.raises(ValueError):
        Support("maybe", "")


def test_real_tiny_checkpoints(tiny_checkpoints):
    from embedxfer.checkpoints import arch_info

    bert, gpt2 = arch_info(str(tiny_checkpoints["bert"])), arch_info(str(tiny_checkpoints["gpt2"]))
    pair = pair_compat(bert, gpt2)
    assert pair.same_width and pair.same_depth and not pair.same_vocab and not pair.same_family
    assert levels(pair)["pair_test"] == "yes" and levels(pair)["copy layers"] == "no"
