"""embedxfer.checkpoints on tiny random checkpoints: info, loading, sharing, safety and error messages."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from embedxfer import checkpoints as ck
from embedxfer.checkpoints import convert_cache, loading
from embedxfer.errors import CheckpointError, EmbedxferError


@pytest.fixture()
def copy_of(tiny_checkpoints, tmp_path):
    """A private copy of a tiny checkpoint folder that a test may damage."""

    def make(family: str) -> Path:
        dst = tmp_path / f"copy-{family}"
        shutil.copytree(tiny_checkpoints[family], dst)
        return dst

    return make


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and "Traceback" not in text
    return text


# --- catalog and architecture info -------------------------------------------------------------------------------


def test_list_checkpoints_names_the_bundled_four():
    entries = ck.list_checkpoints()
    assert [e.id for e in entries] == ["minilm-l6", "minilm-l3", "smollm2-135m", "gemma3-270m"]
    for entry in entries:
        assert entry.description and entry.source
        assert entry.available or entry.reason


@pytest.mark.parametrize(
    ("family", "expected"),
    [
        (
            "bert",
            dict(
                family="bert",
                num_layers=2,
                hidden_size=32,
                num_heads=4,
                ffn_size=64,
                vocab_size=30,
                tokenizer_kind="wordpiece",
                cased=False,
                max_positions=64,
                is_causal=False,
            ),
        ),
        (
            "llama",
            dict(
                family="llama",
                num_layers=2,
                hidden_size=32,
                num_heads=4,
                ffn_size=64,
                tokenizer_kind="byte-bpe",
                cased=True,
                max_positions=64,
                is_causal=True,
            ),
        ),
        (
            "gpt2",
            dict(
                family="gpt2",
                num_layers=2,
                hidden_size=32,
                num_heads=4,
                ffn_size=128,
                tokenizer_kind="byte-bpe",
                cased=True,
                max_positions=64,
                is_causal=True,
            ),
        ),
    ],
)
def test_arch_info_of_tiny_checkpoints(tiny_checkpoints, family, expected):
    info = ck.arch_info(str(tiny_checkpoints[family]))
    for field, value in expected.items():
        assert getattr(info, field) == value, field
    assert info.id == str(tiny_checkpoints[family].resolve())
    assert info.model_type == family
    assert info.to_dict()["num_parameters"] == info.num_parameters > 0


def test_arch_info_reads_files_only(tiny_checkpoints):
    code = (
        "import sys; from embedxfer.checkpoints import arch_info; "
        f"info = arch_info({str(tiny_checkpoints['bert'])!r}); "
        "print(info.num_layers, 'torch' in sys.modules, 'transformers' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["2", "False", "False"]


# --- loading -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["bert", "llama", "gpt2"])
def test_load_tiny_checkpoint_runs_forward(tiny_checkpoints, family):
    import torch

    model, tokenizer, info = ck.load_checkpoint(str(tiny_checkpoints[family]))
    assert not model.training and next(model.parameters()).dtype == torch.float32
    assert type(model).__name__ == {"bert": "BertModel", "llama": "LlamaModel", "gpt2": "GPT2Model"}[family]
    assert info == ck.arch_info(str(tiny_checkpoints[family]))
    assert sum(p.numel() for p in model.parameters()) == info.num_parameters
    batch = tokenizer(["i love this movie", "bad"], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    assert hidden.shape == (2, batch["input_ids"].shape[1], 32)
    assert torch.isfinite(hidden).all()


def test_loaded_model_is_shared_and_loaded_once_across_threads(tiny_checkpoints, monkeypatch):
    ck.clear_loaded()
    calls = []
    real = loading._load_uncached

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(loading, "_load_uncached", counting)
    results: list = []
    threads = [
        threading.Thread(target=lambda: results.append(ck.load_checkpoint(str(tiny_checkpoints["llama"]))))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and len(calls) == 1
    assert all(r.model is results[0].model for r in results)


def test_fresh_model_is_a_private_copy(tiny_checkpoints):
    import torch

    shared = ck.load_checkpoint(str(tiny_checkpoints["bert"]))
    model, tokenizer, info = ck.fresh_model(str(tiny_checkpoints["bert"]))
    assert model is not shared.model and tokenizer is shared.tokenizer and info == shared.info
    before = shared.model.embeddings.word_embeddings.weight.clone()
    with torch.no_grad():
        model.embeddings.word_embeddings.weight.add_(1.0)
    assert torch.equal(shared.model.embeddings.word_embeddings.weight, before)


def test_missing_pad_token_becomes_eos(copy_of):
    folder = copy_of("gpt2")
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        data = json.loads((folder / name).read_text())
        data.pop("pad_token", None)
        (folder / name).write_text(json.dumps(data))
    tokenizer = ck.load_checkpoint(str(folder)).tokenizer
    assert tokenizer.pad_token == tokenizer.eos_token == "<|endoftext|>"


def test_fingerprint_is_stable_and_tracks_weights(tiny_checkpoints, copy_of):
    bert = ck.checkpoint_fingerprint(str(tiny_checkpoints["bert"]))
    assert len(bert) == 16 and int(bert, 16) >= 0
    assert ck.checkpoint_fingerprint(str(tiny_checkpoints["bert"])) == bert
    assert ck.checkpoint_fingerprint(str(copy_of("bert"))) == bert  # content, not location
    assert ck.checkpoint_fingerprint(str(tiny_checkpoints["llama"])) != bert


# --- safe loading ----------------------------------------------------------------------------------------------------


def _make_pickle_only(folder: Path) -> Path:
    model = ck.load_checkpoint(str(folder)).model
    (folder / "model.safetensors").unlink()
    model.save_pretrained(folder, safe_serialization=False)
    assert (folder / "pytorch_model.bin").is_file()
    return folder


def test_pickle_only_checkpoint_needs_permission(copy_of):
    import torch

    folder = _make_pickle_only(copy_of("bert"))
    with pytest.raises(CheckpointError) as exc:
        ck.load_checkpoint(str(folder))
    assert "pickle" in one_line(exc) and "allow_pickle=True" in one_line(exc)
    assert f"EMBEDXFER_ALLOW_PICKLE={folder}" in one_line(exc)
    model, tokenizer, _ = ck.load_checkpoint(str(folder), allow_pickle=True)
    ids = tokenizer(["i love this movie"], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.isfinite(model(input_ids=ids).last_hidden_state).all()
    # A later caller without permission is refused even though the model is cached.
    with pytest.raises(CheckpointError):
        ck.load_checkpoint(str(folder))


def test_pickle_weights_match_safetensors_weights(tiny_checkpoints, copy_of):
    import torch

    safe = ck.load_checkpoint(str(tiny_checkpoints["gpt2"])).model
    pickled = ck.load_checkpoint(str(_make_pickle_only(copy_of("gpt2"))), allow_pickle=True).model
    for (name, a), (_, b) in zip(safe.state_dict().items(), pickled.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_safetensors_is_reported(copy_of, damage):
    folder = copy_of("bert")
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x07not a safetensors file" * 10)
    with pytest.raises(CheckpointError) as exc:
        ck.load_checkpoint(str(folder))
    assert "corrupt" in one_line(exc)


# --- bad ids ---------------------------------------------------------------------------------------------------------


def test_unknown_id_lists_known_ids():
    with pytest.raises(CheckpointError) as exc:
        ck.load_checkpoint("bert-base-uncased")
    text = one_line(exc)
    assert all(i in text for i in ("minilm-l6", "minilm-l3", "smollm2-135m"))
    with pytest.raises(CheckpointError):
        ck.arch_info("no-such-model")


def test_missing_path_is_reported(tmp_path):
    with pytest.raises(CheckpointError) as exc:
        ck.load_checkpoint(str(tmp_path / "nowhere"))
    assert "does not exist" in one_line(exc)


def test_path_outside_allowed_roots_is_refused(tiny_checkpoints, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDXFER_ALLOWED_ROOTS", str(tmp_path / "elsewhere"))
    with pytest.raises(CheckpointError) as exc:
        ck.arch_info(str(tiny_checkpoints["bert"]))
    assert "EMBEDXFER_ALLOWED_ROOTS" in one_line(exc)


def test_folder_that_is_not_a_model(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CheckpointError) as exc:
        ck.load_checkpoint(str(tmp_path))
    assert "config.json" in one_line(exc)
    with pytest.raises(CheckpointError):
        ck.load_checkpoint(str(tmp_path / "notes.txt"))


def test_folder_without_weights_or_tokenizer(copy_of):
    no_tok = copy_of("llama")
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (no_tok / name).unlink()
    with pytest.raises(CheckpointError) as exc:
        ck.load_checkpoint(str(no_tok))
    assert "tokenizer" in one_line(exc)
    (no_tok / "model.safetensors").unlink()
    with pytest.raises(CheckpointError) as exc:
        ck.load_checkpoint(str(no_tok))
    assert "no weights" in one_line(exc)


def test_hub_offline_is_one_clear_sentence(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError) as exc:
        ck.load_checkpoint("hub:embedxfer-tests/does-not-exist")
    assert "Cannot reach the Hugging Face Hub" in one_line(exc)


def test_hub_connection_error_is_one_clear_sentence(monkeypatch):
    import huggingface_hub
    import requests

    def refuse(*args, **kwargs):
        raise requests.exceptions.ConnectionError("connection refused")

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", refuse)
    with pytest.raises(CheckpointError) as exc:
        ck.load_checkpoint("hub:embedxfer-tests/does-not-exist")
    assert "Cannot reach the Hugging Face Hub" in one_line(exc)


def test_hub_id_loads_from_the_downloaded_snapshot(copy_of, monkeypatch):
    import huggingface_hub

    snapshot = copy_of("bert")
    requested = []

    def fake_download(name, allow_patterns, local_files_only, revision=None):
        requested.append((name, tuple(allow_patterns)))
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    model, _, info = ck.load_checkpoint("hub:some-org/tiny-bert")
    assert info.id == "hub:some-org/tiny-bert" and "Hub" in info.source and info.num_layers == 2
    assert requested[0][0] == "some-org/tiny-bert" and "*.bin" not in requested[0][1]  # no pickle unless allowed
    (snapshot / "model.safetensors").unlink()
    with pytest.raises(CheckpointError) as exc:
        ck.arch_info("hub:some-org/other")
    assert "allow_pickle=True" in one_line(exc)


def test_malformed_hub_id():
    with pytest.raises(CheckpointError) as exc:
        ck.load_checkpoint("hub:")
    assert "hub:org/name" in one_line(exc)


# --- convert-once cache ---------------------------------------------------------------------------------------------


def test_conversion_is_cached_atomic_and_logged(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("EMBEDXFER_CACHE", str(tmp_path / "cache"))
    source = tmp_path / "model.onnx"
    source.write_bytes(b"v1")
    calls = []

    def convert(src: Path, out: Path) -> None:
        calls.append(src)
        (out / "config.json").write_text("{}")

    with caplog.at_level(logging.INFO, logger="embedxfer.checkpoints"):
        folder = convert_cache.converted_folder("fake", source, "test", convert)
    assert any("converting fake" in r.getMessage() for r in caplog.records)
    assert folder == tmp_path / "cache" / "checkpoints" / "fake" and (folder / "config.json").is_file()
    assert convert_cache.converted_folder("fake", source, "test", convert) == folder and len(calls) == 1

    def broken(src: Path, out: Path) -> None:
        (out / "config.json").write_text("{half")
        raise RuntimeError("disk full")

    source.write_bytes(b"version 2")  # a changed source invalidates the cache
    with pytest.raises(CheckpointError) as exc:
        convert_cache.converted_folder("fake", source, "test", broken)
    assert "disk full" in one_line(exc)
    # The failed attempt left neither a temp folder nor a folder that passes as converted.
    assert sorted(p.name for p in folder.parent.iterdir()) == ["fake"]
    assert convert_cache.cached_folder("fake", source, "test") is None
    convert_cache.converted_folder("fake", source, "test", convert)
    assert len(calls) == 2 and convert_cache.cached_folder("fake", source, "test") == folder


def test_symlink_loop_is_a_sentence(tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    for call in (ck.arch_info, ck.load_checkpoint):
        with pytest.raises(CheckpointError) as exc:
            call(str(loop))
        assert "loops back on itself" in one_line(exc)


def _with_model_type(folder: Path, model_type: str) -> Path:
    config = json.loads((folder / "config.json").read_text())
    config["model_type"] = model_type
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_unknown_model_type_is_refused_when_first_looked_at(copy_of):
    folder = _with_model_type(copy_of("bert"), "not-a-family")
    for call in (ck.arch_info, ck.load_checkpoint):
        with pytest.raises(CheckpointError) as exc:
            call(str(folder))
        text = one_line(exc)
        assert "model_type 'not-a-family'" in text and "transformers" in text
    (folder / "model.safetensors").unlink()  # without weights the unknown type is still named first
    with pytest.raises(CheckpointError, match="model_type 'not-a-family'"):
        ck.arch_info(str(folder))


def test_arch_info_is_cached_on_disk_by_file_stamps(copy_of, monkeypatch):
    from embedxfer.checkpoints import arch

    folder = copy_of("bert")
    first = ck.arch_info(str(folder))
    arch._INFO.clear()  # a new process: nothing in memory

    def must_not_read(*args, **kwargs):
        raise AssertionError("read again although the files did not change")

    monkeypatch.setattr(arch, "_folder_info", must_not_read)
    assert ck.arch_info(str(folder)) == first
    monkeypatch.undo()
    config = json.loads((folder / "config.json").read_text())
    config["max_position_embeddings"] = 128  # a rewritten config is read again
    (folder / "config.json").write_text(json.dumps(config))
    arch._INFO.clear()
    assert ck.arch_info(str(folder)).max_positions == 128


def test_warmer_reads_in_the_background_and_reports_errors(tiny_checkpoints, tmp_path):
    from embedxfer.checkpoints import arch
    from embedxfer.checkpoints.warm import Warmer

    good, bad = str(tiny_checkpoints["gpt2"]), str(tmp_path / "missing")
    arch._INFO.clear()
    warmer = Warmer()
    warmer.request([good, bad, good])
    while warmer.result(good) is None or warmer.result(bad) is None:  # a state, not a time
        threading.Event().wait(0.05)
    assert warmer.result(good) == ck.arch_info(good)
    assert isinstance(warmer.result(bad), EmbedxferError) and "does not exist" in str(warmer.result(bad))
