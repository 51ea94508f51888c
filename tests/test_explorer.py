"""The embedding explorer's library: projections (shapes, seeds, the on-disk cache), vocabulary alignment and token
kinds, similarity measures and their shuffled references, neighbours, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

from embedxfer.analysis.projection import matrix_fingerprint, neighbour_recall, project
from embedxfer.analysis.similarity import compare, knn_lists, linear_cka, procrustes_residual
from embedxfer.analysis.vocab import TokenTable, align, align_tables, describe_tokens, find_token
from embedxfer.errors import ConfigError, EmbedxferError


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDXFER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _clusters(rows: int = 90, width: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, width)) * 6
    return (centres[np.arange(rows) % 3] + rng.normal(size=(rows, width))).astype(np.float32)


def _rotation(width: int, seed: int = 1) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(width, width)))
    return q


@pytest.mark.parametrize(
    ("method", "params"), [("pca", {}), ("umap", {"n_neighbors": 8}), ("tsne", {"perplexity": 10})]
)
def test_projection_shape_and_seed_determinism(cache, method, params):
    matrix = _clusters()
    first = project(matrix, method, params, seed=3)
    assert first.coords.shape == (90, 2) and first.coords.dtype == np.float32 and not first.cached
    (cache / "projections").rename(cache / "elsewhere")  # recompute, not read: same seed -> same map
    again = project(matrix, method, params, seed=3)
    assert not again.cached
    np.testing.assert_allclose(again.coords, first.coords, atol=1e-5)
    # a map that keeps neighbourhoods: well-separated clusters stay apart
    assert neighbour_recall(matrix, first.coords, k=5, sample=90) > 0.2


def test_projection_cache_hit_miss_and_invalidation(cache):
    matrix = _clusters()
    computed = project(matrix, "pca", seed=0)
    hit = project(matrix, "pca", seed=0)
    assert hit.cached and not computed.cached and hit.key == computed.key
    np.testing.assert_array_equal(hit.coords, computed.coords)
    assert not project(matrix, "pca", seed=1).cached  # another seed is another map
    assert not project(matrix, "umap", {"n_neighbors": 6}, seed=0).cached
    changed = matrix.copy()
    changed[5, 3] += 1e-3
    assert matrix_fingerprint(changed) != matrix_fingerprint(matrix)
    assert not project(changed, "pca", seed=0).cached


def test_bad_projection_requests_say_what_to_change(cache):
    with pytest.raises(ConfigError, match="perplexity 200 is too large for 90 rows"):
        project(_clusters(), "tsne", {"perplexity": 200})
    with pytest.raises(ConfigError, match="n_neighbors"):
        project(_clusters(), "umap", {"n_neighbors": 500})
    with pytest.raises(ConfigError, match="Unknown projection method"):
        project(_clusters(), "isomap")


WORDPIECE = ["[PAD]", "[UNK]", "[CLS]", "the", "good", "##ing", "##s", "12", "!", "...", "[unused3]", "Good"]
BYTE_BPE = ["<|endoftext|>", "Ġthe", "Ġgood", "ing", "s", "Ġ12", "!", "Ċ", "good", "ĠGood", "Ã©"]


def test_token_kinds_on_wordpiece_and_byte_bpe():
    surfaces, kinds = describe_tokens(WORDPIECE, {"[PAD]", "[UNK]", "[CLS]"})
    assert surfaces[3:7] == [" the", " good", "ing", "s"]
    assert kinds == [
        "special",
        "special",
        "special",
        "word start",
        "word start",
        "continuation",
        "continuation",
        "digit",
        "punctuation",
        "punctuation",
        "special",
        "word start",
    ]  # fmt: kept one kind per token
    surfaces, kinds = describe_tokens(BYTE_BPE, {"<|endoftext|>"})
    assert surfaces[1:6] == [" the", " good", "ing", "s", " 12"]
    assert surfaces[7] == "\n" and surfaces[10] == "é"  # bytes decoded
    assert kinds == [
        "special",
        "word start",
        "word start",
        "continuation",
        "continuation",
        "digit",
        "punctuation",
        "punctuation",
        "continuation",
        "word start",
        "continuation",
    ]


def test_alignment_by_token_text_on_a_hand_made_pair():
    sa, ka = describe_tokens(WORDPIECE, {"[PAD]", "[UNK]", "[CLS]"})
    sb, kb = describe_tokens(BYTE_BPE, {"<|endoftext|>"})
    alignment = align(sa, ka, sb, kb)
    pairs = {(WORDPIECE[a], BYTE_BPE[b]) for a, b in zip(alignment.rows_a, alignment.rows_b, strict=True)}
    # word starts pair with word starts, continuations with continuations, punctuation whatever its spacing;
    # specials never pair; case is kept
    assert pairs == {
        ("the", "Ġthe"),
        ("good", "Ġgood"),
        ("##ing", "ing"),
        ("##s", "s"),
        ("12", "Ġ12"),
        ("!", "!"),
        ("Good", "ĠGood"),
    }
    assert alignment.shared == 7
    assert alignment.only_a == 1  # "..."
    assert alignment.only_b == 2  # "good" (a continuation), "é"; whitespace-only "\n" has no text to pair


def _table(name: str, tokens: list[str], matrix: np.ndarray) -> TokenTable:
    surfaces, kinds = describe_tokens(tokens, set())
    return TokenTable(name, name, tokens, surfaces, kinds, matrix)


def test_no_shared_vocabulary_is_refused_with_a_sentence():
    a = _table("a", ["alpha", "beta", "gamma"], np.eye(3, dtype=np.float32))
    b = _table("b", ["Ġdelta", "Ġeps", "zeta"], np.eye(3, dtype=np.float32))
    with pytest.raises(ConfigError, match="share no token"):
        align_tables(a, b)


def test_cka_and_procrustes_on_rotations_and_shuffles():
    x = _clusters(300, 16)
    rotated = x @ _rotation(16) * 2.5
    assert linear_cka(x, x) == pytest.approx(1.0)
    assert linear_cka(x, rotated) == pytest.approx(1.0, abs=1e-6)
    assert procrustes_residual(x, rotated) == pytest.approx(0.0, abs=1e-6)
    result = compare(x, rotated, k=5, seed=0)
    assert result.knn_overlap == pytest.approx(1.0)
    assert result.cka_shuffled < 0.5 and result.knn_overlap_shuffled < 0.3
    assert result.procrustes_residual_shuffled > 0.5
    assert result.procrustes_width is None


def test_different_widths_are_compared_after_pca():
    x = _clusters(200, 16)
    wider = np.hstack([x @ _rotation(16), np.zeros((200, 8), np.float32)])
    result = compare(x, wider, k=5)
    assert result.procrustes_width == 16
    assert result.procrustes_residual == pytest.approx(0.0, abs=1e-6)
    assert result.cka == pytest.approx(1.0, abs=1e-6)


def test_knn_lists_exclude_the_row_itself():
    lists = knn_lists(_clusters(60, 8), 4)
    assert lists.shape == (60, 4)
    assert not (lists == np.arange(60)[:, None]).any()


def test_unknown_token_suggests_close_matches():
    from embedxfer.analysis.neighbours import nearest

    table = _table("wp", ["[PAD]", "happy", "happiness", "sad", "##ly", "day"], _clusters(6, 4))
    assert find_token(table, "happy") == 1 and find_token(table, "ly") == 4
    hits = nearest(table, "happy", k=3)
    assert len(hits.tokens) == 3 and "happy" not in hits.tokens
    with pytest.raises(EmbedxferError, match=r"'happpy' is not a token of wp's vocabulary.*Close matches: happy"):
        nearest(table, "happpy")


def test_vader_valence_reads_the_bundled_lexicon():
    from embedxfer.analysis.colors import vader_valence

    values = vader_valence([" good", " awful", "##zzq", " the"])
    assert values[0] > 1 and values[1] < -1 and np.isnan(values[2]) and np.isnan(values[3])


def test_config_constants_match_the_library():
    from embedxfer.analysis import projection
    from embedxfer.experiments import projection_fields
    from embedxfer.experiments.layer_map import POOLINGS
    from embedxfer.features import FEATURE_POOLINGS

    assert projection_fields.METHODS == projection.METHODS
    assert projection_fields.UMAP_METRICS == projection.UMAP_METRICS
    assert POOLINGS == FEATURE_POOLINGS
