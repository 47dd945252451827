"""The ONNX graph of a BERT sentence encoder, written straight from its safetensors weights.

:func:`bert_graph` turns a Hugging Face ``BertModel`` folder (``config.json`` and
``model.safetensors``) into the graph psyprofile runs: the encoder followed by mean pooling
over the attention mask and L2 normalisation, inputs ``input_ids`` and ``attention_mask``
(int64, batch x seq, both dynamic), output ``embedding`` (float32, batch x hidden size).
Only ``numpy``, ``safetensors`` and ``onnx`` are needed: no torch, no export tracing.

The graph is written already in the fused form ONNX Runtime's BERT optimiser made of
torch's export (ORT contrib ops, domain ``com.microsoft``): ``EmbedLayerNormalization``
(word + position + token-type embeddings and their layer norm; it also turns the mask into
the per-row lengths that ``Attention`` reads, so windows must be padded on the right, as
:class:`psyprofile.features.embeddings.MiniLM` pads them), one ``Attention`` per layer (the
query, key and value products packed into one weight), ``BiasGelu`` in the feed-forward
block, and plain ``MatMul`` + ``Add`` + residual ``Add`` + ``LayerNormalization`` elsewhere
(not SkipLayerNormalization; see :data:`psyprofile.features.minilm_onnx.UNFUSED`). Writing
that form directly, instead of a plain graph for the optimiser to pattern-match, keeps the
result independent of which patterns a given ONNX Runtime version recognises. Nodes carry
the names torch's export gave them (``/bert/encoder/layer.0/output/dense/MatMul``, ...),
which the int8 recipe refers to.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from psyprofile.errors import PsyprofileError

if TYPE_CHECKING:
    import onnx

OPSET = 17  # ReduceL2 still takes its axes as an attribute here
MS = "com.microsoft"


class _Graph:
    """Nodes and initializers being collected (onnx imported lazily: it is an extra)."""

    def __init__(self):
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes: list = []
        self.inits: list = []

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(self.numpy_helper.from_array(np.array(value, order="C"), name))
        return name

    def node(self, op: str, name: str, inputs: list[str], n_out: int = 1,
             domain: str = "", **attrs) -> list[str]:
        outs = [f"{name}_output_{i}" for i in range(n_out)]
        self.nodes.append(self.helper.make_node(op, inputs, outs, name=name, domain=domain,
                                                **attrs))
        return outs


def _layer(g: _Graph, w: dict[str, np.ndarray], i: int, x: str, lengths: str,
           heads: int, eps: float) -> str:
    """One encoder layer on hidden states ``x``; returns its output's name."""
    p, n = f"encoder.layer.{i}.", f"/bert/encoder/layer.{i}/"

    def linear_T(key: str) -> str:  # MatMul takes (in, out); torch stores (out, in)
        return g.const(f"bert.{p}{key}.weight_T", w[f"{p}{key}.weight"].T)

    def bias(key: str) -> str:
        return g.const(f"bert.{p}{key}.bias", w[f"{p}{key}.bias"])

    def layer_norm(key: str, name: str, y: str) -> str:
        return g.node("LayerNormalization", name, [y, g.const(f"bert.{p}{key}.weight",
                                                                w[f"{p}{key}.weight"]),
                                                   bias(key)],
                      axis=-1, epsilon=eps, stash_type=1)[0]

    qkv = [f"{p}attention.self.{k}" for k in ("query", "key", "value")]
    wqkv = g.const(f"Attention_{i}_qkv_weight", np.concatenate([w[k + ".weight"].T for k in qkv], 1))
    bqkv = g.const(f"Attention_{i}_qkv_bias", np.concatenate([w[k + ".bias"] for k in qkv]))
    ctx = g.node("Attention", f"Attention_{i}", [x, wqkv, bqkv, lengths], domain=MS,
                 num_heads=heads)[0]
    out = g.node("MatMul", n + "attention/output/dense/MatMul",
                 [ctx, linear_T("attention.output.dense")])[0]
    out = g.node("Add", n + "attention/output/dense/Add",
                 [bias("attention.output.dense"), out])[0]
    out = g.node("Add", n + "attention/output/Add", [out, x])[0]
    att = layer_norm("attention.output.LayerNorm",
                     n + "attention/output/LayerNorm/LayerNormalization", out)
    mid = g.node("MatMul", n + "intermediate/dense/MatMul",
                 [att, linear_T("intermediate.dense")])[0]
    mid = g.node("BiasGelu", f"Gelu_AddBias_{i}", [mid, bias("intermediate.dense")], domain=MS)[0]
    out = g.node("MatMul", n + "output/dense/MatMul", [mid, linear_T("output.dense")])[0]
    out = g.node("Add", n + "output/dense/Add", [bias("output.dense"), out])[0]
    out = g.node("Add", n + "output/Add", [out, att])[0]
    return layer_norm("output.LayerNorm", n + "output/LayerNorm/LayerNormalization", out)


def bert_graph(folder: Path) -> onnx.ModelProto:
    """The pooled, normalised encoder of the ``BertModel`` in ``folder`` as an
    ``onnx.ModelProto`` (weights inside the model, about 90 MB for MiniLM-L6)."""
    from onnx import TensorProto, helper
    from safetensors.numpy import load_file

    cfg = json.loads((folder / "config.json").read_text())
    if (cfg.get("model_type"), cfg.get("position_embedding_type", "absolute"),
            cfg.get("hidden_act")) != ("bert", "absolute", "gelu"):
        raise PsyprofileError(
            f"{folder / 'config.json'}: not a BERT model with absolute positions and (erf) GELU, "
            "so its ONNX graph cannot be written; reinstall the model package it came from.")
    w = load_file(str(folder / "model.safetensors"))
    w = {k.removeprefix("bert."): v for k, v in w.items()}
    eps = float(cfg["layer_norm_eps"])
    g = _Graph()

    ids32 = g.node("Cast", "/bert/Cast_input_ids", ["input_ids"], to=TensorProto.INT32)[0]
    mask32 = g.node("Cast", "/bert/Cast_attention_mask", ["attention_mask"],
                    to=TensorProto.INT32)[0]
    shape = g.node("Shape", "/bert/embeddings/Shape", ["input_ids"])[0]
    # token type 0 everywhere, as sentence-transformers feeds a single sentence
    segments = g.node("ConstantOfShape", "/bert/embeddings/token_type_ids", [shape],
                      value=helper.make_tensor("zero", TensorProto.INT32, [1], [0]))[0]
    emb = "embeddings."
    hidden, lengths = g.node(
        "EmbedLayerNormalization", "EmbedLayerNormalization_0",
        [ids32, segments,
         *(g.const(f"bert.{emb}{k}.weight", w[f"{emb}{k}.weight"])
           for k in ("word_embeddings", "position_embeddings", "token_type_embeddings",
                     "LayerNorm")),
         g.const(f"bert.{emb}LayerNorm.bias", w[f"{emb}LayerNorm.bias"]), mask32],
        n_out=2, domain=MS, epsilon=eps)
    for i in range(int(cfg["num_hidden_layers"])):
        hidden = _layer(g, w, i, hidden, lengths, int(cfg["num_attention_heads"]), eps)

    # Mean over the unmasked positions, then unit length (torch's normalize: eps 1e-12).
    axis1 = g.const("/axis_1", np.array([1], dtype=np.int64))
    m = g.node("Unsqueeze", "/Unsqueeze", ["attention_mask", g.const("/axis_last",
                                                                     np.array([-1], np.int64))])[0]
    m = g.node("Cast", "/Cast", [m], to=TensorProto.FLOAT)[0]
    count = g.node("ReduceSum", "/ReduceSum_1", [m, axis1], keepdims=0)[0]
    count = g.node("Clip", "/Clip", [count, g.const("/min_count", np.array(1e-9, np.float32))])[0]
    total = g.node("ReduceSum", "/ReduceSum", [g.node("Mul", "/Mul", [hidden, m])[0], axis1],
                   keepdims=0)[0]
    mean = g.node("Div", "/Div", [total, count])[0]
    norm = g.node("ReduceL2", "/ReduceL2", [mean], axes=[1], keepdims=1)[0]
    norm = g.node("Clip", "/Clip_1", [norm, g.const("/min_norm", np.array(1e-12, np.float32))])[0]
    g.nodes.append(helper.make_node("Div", [mean, norm], ["embedding"], name="/Div_1"))

    dims = ["batch", "seq"]
    graph = helper.make_graph(
        g.nodes, "bert_mean_pooled",
        [helper.make_tensor_value_info(n, TensorProto.INT64, dims)
         for n in ("input_ids", "attention_mask")],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT,
                                       ["batch", int(cfg["hidden_size"])])],
        g.inits)
    return helper.make_model(graph, producer_name="psyprofile.bert_graph", ir_version=8,
                             opset_imports=[helper.make_opsetid("", OPSET),
                                            helper.make_opsetid(MS, 1)])


def write_bert_graph(folder: Path, out: Path) -> None:
    """Write :func:`bert_graph` of ``folder`` to the file ``out``."""
    import onnx

    onnx.save_model(bert_graph(folder), str(out))
