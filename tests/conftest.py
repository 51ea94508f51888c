"""Shared fixtures: tiny random checkpoints (hidden 32, 2 layers) saved to temp folders.

They load by path like any local Hugging Face folder, so tests never touch the network.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tests never write into the user's ~/.embedxfer; converted checkpoints are cached per test session.
if "EMBEDXFER_HOME" not in os.environ:
    import tempfile

    os.environ["EMBEDXFER_HOME"] = tempfile.mkdtemp(prefix="embedxfer-test-home-")
# One cache for the whole session, even for tests that get a fresh home: conversions and arch info are read once.
os.environ.setdefault("EMBEDXFER_CACHE", os.path.join(os.environ["EMBEDXFER_HOME"], "cache"))

TINY_VOCAB = [
    "[PAD]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "the",
    "a",
    "good",
    "bad",
    "movie",
    "great",
    "awful",
    "i",
    "love",
    "hate",
    "it",
    "is",
    "not",
    "happy",
    "sad",
    "day",
    "very",
    ".",
    ",",
    "!",
    "##s",
    "##ing",
    "and",
    "was",
    "this",
]


def _bert_tokenizer(folder: Path):
    from transformers import BertTokenizerFast

    vocab_file = folder / "vocab.txt"
    vocab_file.write_text("\n".join(TINY_VOCAB) + "\n")
    return BertTokenizerFast(vocab_file=str(vocab_file), do_lower_case=True)


def _byte_bpe_tokenizer():
    """A tiny byte-level BPE tokenizer trained on a few sentences (no download)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"], show_progress=False)
    corpus = ["i love this movie", "this was an awful day", "great and happy", "not good, very bad!"] * 20
    tok.train_from_iterator(corpus, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>")


def make_tiny_checkpoint(folder: Path, family: str, *, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """Save a random tiny model of `family` ('bert', 'llama', 'gpt2') with a tokenizer into `folder`."""
    import torch
    from transformers import BertConfig, BertModel, GPT2Config, GPT2Model, LlamaConfig, LlamaModel

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    if family == "bert":
        tokenizer = _bert_tokenizer(folder)
        config = BertConfig(
            vocab_size=len(TINY_VOCAB),
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=4,
            intermediate_size=hidden * 2,
            max_position_embeddings=64,
        )
        model = BertModel(config)
    elif family == "llama":
        tokenizer = _byte_bpe_tokenizer()
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=hidden,
            num_hidden_layers=layers,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=hidden * 2,
            max_position_embeddings=64,
        )
        model = LlamaModel(config)
    elif family == "gpt2":
        tokenizer = _byte_bpe_tokenizer()
        config = GPT2Config(vocab_size=len(tokenizer), n_embd=hidden, n_layer=layers, n_head=4, n_positions=64)
        model = GPT2Model(config)
    else:
        raise ValueError(f"unknown family {family!r}")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> dict[str, Path]:
    """Folders of tiny random bert, llama and gpt2 checkpoints, built once per session."""
    root = tmp_path_factory.mktemp("tiny-checkpoints")
    return {family: make_tiny_checkpoint(root / f"tiny-{family}", family) for family in ("bert", "llama", "gpt2")}


@pytest.fixture()
def gated():
    """The test-only `gated` kind (tests/gated_kind.py), registered in this process for one test."""
    from gate import GATED_KIND

    from embedxfer.experiments import register_kind, unregister_kind
    from embedxfer.plugins import load_plugin

    kind = register_kind(load_plugin(str(GATED_KIND)).KIND)  # a no-op when the plugin import registered it
    yield kind
    unregister_kind(kind.name)


@pytest.fixture()
def gate(tmp_path):
    """A gate folder for `gated` trials; the test opens it."""
    from gate import Gate

    return Gate(tmp_path / "gate")


@pytest.fixture()
def embedxfer_home(tmp_path, monkeypatch) -> Path:
    """A fresh EMBEDXFER_HOME for one test."""
    home = tmp_path / "home"
    monkeypatch.setenv("EMBEDXFER_HOME", str(home))
    return home


def require_tool(available: bool, what: str) -> None:
    """Skip a test whose system tool is missing; under CI=true, where .ci/run installs it, fail instead."""
    if available:
        return
    reason = f"needs {what}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI installs it (.ci/run), so here its absence is an error", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a system Chromium (for PNG export and browser tests)."""
    from browser_support import chromium_executable

    path = chromium_executable()
    require_tool(path is not None, "Debian's chromium on PATH (apt-get install chromium)")
    return path


ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def app_env(tmp_path, monkeypatch, tiny_checkpoints):
    """A fresh home, one CPU worker, the tiny bert offered as a checkpoint and fresh Streamlit caches (clearing
    `st.cache_resource` shuts the previous job manager down through its `on_release`)."""
    import streamlit as st

    monkeypatch.syspath_prepend(str(ROOT))  # `ui` is the page layer next to app.py, not an installed package
    home = tmp_path / "home"
    monkeypatch.setenv("EMBEDXFER_HOME", str(home))
    monkeypatch.setenv("EMBEDXFER_WORKERS", "cpu=1")
    monkeypatch.setenv("EMBEDXFER_EXTRA_CHECKPOINTS", str(tiny_checkpoints["bert"]))
    st.cache_resource.clear()
    st.cache_data.clear()
    yield home
    st.cache_resource.clear()
    st.cache_data.clear()
