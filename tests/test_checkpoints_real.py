"""The four bundled checkpoints, loaded from their pip packages (minilm-l3, smollm2 and gemma3 are converted once)."""

from __future__ import annotations

import pytest

from embedxfer import checkpoints as ck

pytestmark = pytest.mark.real

SENTENCES = [
    "The movie was great!",
    "I hate rainy Mondays.",
    "ok",
    "A much longer sentence about nothing in particular.",
]

EXPECTED = {
    "minilm-l6": dict(
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
        num_parameters=22_713_216,
        is_causal=False,
    ),
    "minilm-l3": dict(
        family="bert",
        model_type="bert",
        num_layers=3,
        hidden_size=384,
        num_heads=12,
        ffn_size=1536,
        vocab_size=30522,
        tokenizer_kind="wordpiece",
        cased=False,
        max_positions=512,
        num_parameters=17_241_984,
        is_causal=False,
    ),
    "smollm2-135m": dict(
        family="llama",
        model_type="llama",
        num_layers=30,
        hidden_size=576,
        num_heads=9,
        ffn_size=1536,
        vocab_size=49152,
        tokenizer_kind="byte-bpe",
        cased=True,
        max_positions=8192,
        num_parameters=134_515_008,
        is_causal=True,
    ),
    "gemma3-270m": dict(
        family="gemma3_text",
        model_type="gemma3_text",
        num_layers=18,
        hidden_size=640,
        num_heads=4,
        ffn_size=2048,
        vocab_size=262_144,
        tokenizer_kind="sentencepiece",
        cased=True,
        max_positions=32768,
        num_parameters=268_098_176,
        is_causal=True,
    ),
}


@pytest.fixture(scope="session")
def bundled():
    """All bundled checkpoints, loaded once per session (the first load converts l3, smollm2 and gemma3)."""
    missing = [e.reason for e in ck.list_checkpoints() if not e.available]
    if missing:
        pytest.skip(missing[0])
    return {cid: ck.load_checkpoint(cid) for cid in EXPECTED}


@pytest.mark.parametrize("cid", list(EXPECTED))
def test_arch_info_of_bundled_checkpoints(bundled, cid):
    model, _, info = bundled[cid]
    for field, value in EXPECTED[cid].items():
        assert getattr(info, field) == value, field
    assert info == ck.arch_info(cid)
    assert sum(p.numel() for p in model.parameters()) == info.num_parameters


def test_info_from_sources_matches_converted_folders(bundled):
    """arch_info before conversion (ONNX / GGUF metadata) agrees with the converted, cached folders."""
    from embedxfer.checkpoints import arch, resolve

    for cid in ("minilm-l3", "smollm2-135m", "gemma3-270m"):
        folder = resolve.cached_bundled_folder(cid)
        assert folder is not None and (folder / "model.safetensors").is_file()
        assert arch.bundled_source_info(resolve.resolve_id(cid)) == bundled[cid].info


@pytest.mark.parametrize("cid", ["minilm-l6", "minilm-l3"])
def test_bert_forward_gives_distinct_sentence_vectors(bundled, cid):
    import torch

    model, tokenizer, _ = bundled[cid]
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    vectors = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    sims = vectors @ vectors.T
    assert torch.isfinite(hidden).all() and hidden.shape[-1] == 384
    assert (sims - torch.eye(len(SENTENCES))).abs().max() < 0.99  # not collapsed


def test_minilm_l3_matches_onnxruntime(bundled):
    import numpy as np
    import onnxruntime as ort
    import torch

    from embedxfer.checkpoints.bundled import locate

    model, tokenizer, _ = bundled["minilm-l3"]
    batch = tokenizer(SENTENCES, padding=True, return_tensors="np")
    session = ort.InferenceSession(str(locate("minilm-l3")), providers=["CPUExecutionProvider"])
    feeds = {
        "input_ids": batch["input_ids"].astype(np.int64),
        "attention_mask": batch["attention_mask"].astype(np.int64),
    }
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(None, feeds), strict=True))
    token_states = next(v for v in outputs.values() if v.ndim == 3)
    pooled = next(v for v in outputs.values() if v.ndim == 2 and v.dtype == np.float32)
    with torch.no_grad():
        ours = model(**{k: torch.from_numpy(v) for k, v in feeds.items()}).last_hidden_state.numpy()
    valid = batch["attention_mask"].astype(bool)
    assert np.abs(ours[valid] - token_states[valid]).max() < 1e-4
    mask = batch["attention_mask"][..., None].astype(np.float32)
    our_pooled = (ours * mask).sum(1) / mask.sum(1)
    assert np.abs(our_pooled - pooled).max() < 1e-4


def test_minilm_l3_and_l6_share_vocabulary_order(bundled):
    import torch

    l3 = bundled["minilm-l3"].model.embeddings.word_embeddings.weight[1000:6000]
    l6 = bundled["minilm-l6"].model.embeddings.word_embeddings.weight[1000:6000]
    same_row = torch.nn.functional.cosine_similarity(l3, l6, dim=-1).mean()
    shifted = torch.nn.functional.cosine_similarity(l3, l6.roll(1, dims=0), dim=-1).mean()
    assert same_row > shifted + 0.1


def test_smollm2_tokenizer_and_next_token(bundled):
    import torch

    model, tokenizer, _ = bundled["smollm2-135m"]
    assert tokenizer.pad_token == tokenizer.eos_token == "<|im_end|>"
    assert tokenizer("Hello world")["input_ids"] == [19556, 905]  # no BOS prepended, GGUF ids
    ids = tokenizer(["The capital of France is"], return_tensors="pt")
    with torch.no_grad():
        hidden = model(**ids).last_hidden_state
    logits = hidden[0, -1] @ model.embed_tokens.weight.T  # SmolLM2 ties its output head to the embeddings
    assert tokenizer.decode(logits.argmax()).strip() == "Paris"


def test_bundled_fingerprints_are_distinct(bundled):
    prints = {ck.checkpoint_fingerprint(cid) for cid in EXPECTED}
    assert len(prints) == len(EXPECTED) and all(len(p) == 16 for p in prints)


def test_gemma3_pieces_join_into_the_published_file_and_its_tokenizer_matches_gemma(bundled):
    """The four pip pieces join into the GGUF its packager published (sha256 checked on joining); the tokenizer
    rebuilt from it gives Gemma's own ids, and the model predicts like a pretrained one."""
    import torch

    from embedxfer.checkpoints.bundled import BUNDLED, locate

    assert locate("gemma3-270m").stat().st_size == 253_113_024 and BUNDLED["gemma3-270m"].sha256
    model, tokenizer, _ = bundled["gemma3-270m"]
    assert tokenizer("The capital of France is")["input_ids"] == [2, 818, 5279, 529, 7001, 563]  # <bos> first

    def next_tokens(text: str, k: int) -> list[str]:
        with torch.no_grad():
            hidden = model(**tokenizer([text], return_tensors="pt")).last_hidden_state
        logits = hidden[0, -1] @ model.embed_tokens.weight.T  # gemma ties its output head to the embeddings
        return [tokenizer.decode(i).strip() for i in logits.topk(k).indices]

    assert next_tokens("Water is made of hydrogen and", 1) == ["oxygen"]
    assert "Paris" in next_tokens("The capital of France is", 5)
