"""Rebuild a transformers BertModel from a BERT encoder exported to ONNX (sentence-transformers style).

The export keeps most parameters under their PyTorch names (`...embeddings.word_embeddings.weight`,
`...encoder.layer.0.attention.self.query.bias`), but the exporter renames every Linear weight to an
anonymous `onnx::MatMul_NNN` initializer stored as (in, out), i.e. transposed relative to
`nn.Linear.weight`. We recover each one's name from the graph: the MatMul that uses it feeds an Add
whose other input is the named bias of the same Linear.
"""

from __future__ import annotations

import logging
import math
import re
from pathlib import Path
from typing import Any

from embedxfer.errors import CheckpointError

logger = logging.getLogger("embedxfer.checkpoints")

_PARAM_START = re.compile(r"(?:^|\.)((?:embeddings|encoder|pooler)\..*)$")
_LAYER_INDEX = re.compile(r"^encoder\.layer\.(\d+)\.")


def _hf_name(onnx_name: str) -> str | None:
    """`model.0.auto_model.encoder.layer.0.output.dense.bias` -> `encoder.layer.0.output.dense.bias`."""
    match = _PARAM_START.search(onnx_name)
    return match.group(1) if match else None


def _linear_name_from_node(output_name: str) -> str | None:
    """Fallback: `/model/.../encoder/layer.0/attention/self/query/MatMul_output_0` -> `...query.weight`."""
    dotted = ".".join(output_name.strip("/").split("/")[:-1])
    name = _hf_name(dotted)
    return f"{name}.weight" if name else None


def read_bert_weights(onnx_path: Path) -> tuple[dict[str, Any], Any]:
    """HF-named numpy weights (Linear weights already transposed) and the ONNX graph."""
    import onnx
    from onnx import numpy_helper

    try:
        graph = onnx.load(str(onnx_path)).graph
    except Exception as exc:  # onnx raises DecodeError and friends for damaged files
        raise CheckpointError(f"ONNX file {onnx_path} cannot be read ({type(exc).__name__}); reinstall it.") from exc
    arrays = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    weights: dict[str, Any] = {}
    for name, array in arrays.items():
        hf = _hf_name(name)
        if hf is not None:
            weights[hf] = array
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for inp in node.input:
            consumers.setdefault(inp, []).append(node)
    for node in graph.node:
        if node.op_type != "MatMul" or len(node.input) != 2 or node.input[1] not in arrays:
            continue
        if _hf_name(node.input[1]) is not None:
            continue  # already a named parameter
        target = None
        for add in consumers.get(node.output[0], []):
            if add.op_type != "Add":
                continue
            bias = next((_hf_name(i) for i in add.input if i in arrays and _hf_name(i)), None)
            if bias and bias.endswith(".bias"):
                target = bias[: -len(".bias")] + ".weight"
        target = target or _linear_name_from_node(node.output[0])
        if target is None:
            raise CheckpointError(f"ONNX file {onnx_path} has a MatMul weight {node.input[1]} that cannot be mapped.")
        weights[target] = arrays[node.input[1]].T.copy()
    return weights, graph


def _num_heads(graph: Any, hidden: int) -> int | None:
    """Heads from the first attention reshape: its target shape is (batch, seq, heads, head_dim)."""
    from onnx import numpy_helper

    constants = {}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute:
            try:
                constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
            except Exception:  # non-tensor constants are irrelevant here
                continue
    producers = {out: node for node in graph.node for out in node.output}
    for node in graph.node:
        if node.op_type != "Reshape" or "layer.0/attention/self" not in node.name + node.output[0]:
            continue
        concat = producers.get(node.input[1])
        if concat is None or concat.op_type != "Concat" or len(concat.input) != 4:
            continue
        values = [constants.get(i) for i in concat.input[2:]]
        if all(v is not None and v.size == 1 for v in values):
            heads, head_dim = (int(v.reshape(-1)[0]) for v in values)
            if heads * head_dim == hidden:
                return heads
    return None


def bert_config(weights: dict[str, Any], graph: Any, template: dict[str, Any]) -> dict[str, Any]:
    """A BertConfig dict: sizes from the weight shapes, the rest (activation, eps) from `template`."""
    try:
        vocab, hidden = weights["embeddings.word_embeddings.weight"].shape
        max_pos = weights["embeddings.position_embeddings.weight"].shape[0]
        types = weights["embeddings.token_type_embeddings.weight"].shape[0]
        ffn = weights["encoder.layer.0.intermediate.dense.weight"].shape[0]
    except KeyError as exc:
        raise CheckpointError(f"The ONNX graph is not a BERT encoder (missing {exc.args[0]}).") from exc
    layers = 1 + max(int(m.group(1)) for k in weights if (m := _LAYER_INDEX.match(k)))
    heads = _num_heads(graph, int(hidden)) or int(template.get("num_attention_heads", 12))
    config = {k: v for k, v in template.items() if not k.startswith("_") and k != "transformers_version"}
    config.update(
        model_type="bert",
        architectures=["BertModel"],
        vocab_size=int(vocab),
        hidden_size=int(hidden),
        max_position_embeddings=int(max_pos),
        type_vocab_size=int(types),
        intermediate_size=int(ffn),
        num_hidden_layers=int(layers),
        num_attention_heads=int(heads),
    )
    return config


def count_parameters(weights: dict[str, Any]) -> int:
    return sum(math.prod(a.shape) for a in weights.values())


def convert_onnx_bert(onnx_path: Path, template: dict[str, Any], tokenizer_folder: Path, out_dir: Path) -> None:
    """Write a HF folder (config, safetensors, tokenizer) rebuilt from `onnx_path` into `out_dir`."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    weights, graph = read_bert_weights(onnx_path)
    config = BertConfig(**bert_config(weights, graph, template))
    has_pooler = "pooler.dense.weight" in weights
    model = BertModel(config, add_pooling_layer=has_pooler)
    state = {k: torch.from_numpy(v.copy()) for k, v in weights.items()}
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith(("position_ids", "token_type_ids"))]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in state if k in expected and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or wrong:
        raise CheckpointError(
            f"ONNX weights do not fit a BertModel (missing {missing[:3]}, unexpected {unexpected[:3]}, "
            f"wrong shape {wrong[:3]})."
        )
    model.load_state_dict(state, strict=False)
    model.eval()
    _check_against_onnxruntime(model, onnx_path)
    model.save_pretrained(out_dir, safe_serialization=True)
    AutoTokenizer.from_pretrained(tokenizer_folder).save_pretrained(out_dir)


def _check_against_onnxruntime(model: Any, onnx_path: Path) -> None:
    """Refuse to cache a rebuild whose hidden states differ from the ONNX graph's (wrong mapping)."""
    try:
        import onnxruntime as ort
    except ImportError:
        logger.warning("onnxruntime is not installed; skipping the check of the rebuilt %s", onnx_path.name)
        return
    import numpy as np
    import torch

    ids = np.array([[101, 7592, 2088, 1010, 2023, 2003, 1037, 3231, 102]], dtype=np.int64)
    mask = np.ones_like(ids)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {"input_ids": ids, "attention_mask": mask})
    hidden_states = [o for o in outputs if o.ndim == 3 and o.shape[-1] == model.config.hidden_size]
    if not hidden_states:
        logger.warning("ONNX graph %s has no per-token output; skipping the check", onnx_path.name)
        return
    with torch.no_grad():
        ours = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).last_hidden_state
    diff = float(np.abs(ours.numpy() - hidden_states[0]).max())
    if diff > 1e-3:
        raise CheckpointError(f"Rebuilt model differs from the ONNX graph {onnx_path.name} (max diff {diff:.2g}).")
