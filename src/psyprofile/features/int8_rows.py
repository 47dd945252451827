"""Per-row int8 matrix products for an ONNX graph: an activation quantised token by token.

ONNX Runtime's dynamic quantisation (``DynamicQuantizeMatMul``) scales a whole activation
tensor by its largest value, so one token with an outlier coarsens every other token's
product. :func:`quantize_rows` rewrites chosen ``MatMul(x, W)`` nodes (``W`` a constant
``(K, N)``) into products whose activation scale is per row of ``x``:

    s = max|x[row, :]| / 127                 (one float per token, shape (..., 1))
    q = round(x / s) + 128                   (uint8; zero point 128 for every row)
    y = s * ((q - 128) @ Wq) * w_scale       (``MatMulIntegerToFloat``, int32 accumulation)

with ``Wq`` the weights as int8 per output column (``w_scale`` of shape (N,)). A row's
result depends on that row alone, so it is the same whatever else is in the batch. The
symmetric activation code sits in uint8 with one shared zero point because ONNX Runtime's
fast integer kernels take uint8 activations with a scalar zero point (int8 activations ran
about 20x slower there). On CPUs without VNNI the uint8 x int8 pair sums of AVX2 can
saturate, so ``weight_bits=7`` keeps the weights within +-63 there (as ``reduce_range`` does).
"""

from __future__ import annotations

from typing import Any

import numpy as np

MS_DOMAIN = "com.microsoft"


def _weights(W: np.ndarray, weight_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 codes (K, N) and float32 scales (N,) of ``W`` (K, N), per column."""
    qmax = 2 ** (weight_bits - 1) - 1
    scale = np.maximum(np.abs(W).max(axis=0), 1e-30) / qmax
    codes = np.clip(np.round(W / scale), -qmax, qmax).astype(np.int8)
    return codes, scale.astype(np.float32)


def quantize_rows(model: Any, node_names: list[str], weight_bits: int = 8) -> Any:
    """Rewrite the ``MatMul`` nodes named ``node_names`` of ``model`` (an ``onnx.ModelProto``,
    changed in place and returned) into per-row int8 products; each keeps its output name,
    and its new nodes are named ``<node>/...``. Raises ``KeyError`` naming a node that is
    not a ``MatMul`` with a constant weight."""
    from onnx import helper, numpy_helper

    g = model.graph
    inits = {i.name: i for i in g.initializer}
    targets = {n.name: n for n in g.node if n.op_type == "MatMul" and n.input[1] in inits}
    missing = [name for name in node_names if name not in targets]
    if missing:
        raise KeyError(f"no MatMul with a constant weight named {', '.join(missing)}")
    if not any(o.domain == MS_DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    shared = {"rows/inv127": np.array(1 / 127, np.float32), "rows/tiny": np.array(1e-30, np.float32),
              "rows/one": np.array(1.0, np.float32), "rows/zp128": np.array(128, np.uint8),
              "rows/zp0": np.array(0, np.int8)}
    g.initializer.extend(numpy_helper.from_array(v, k) for k, v in shared.items())
    out = []
    for node in g.node:
        if node.name not in node_names:
            out.append(node)
            continue
        (x, w), y, p = node.input, node.output[0], node.name
        codes, scale = _weights(numpy_helper.to_array(inits[w]).astype(np.float32), weight_bits)
        g.initializer.extend([numpy_helper.from_array(codes, f"{p}/Wq"),
                              numpy_helper.from_array(scale, f"{p}/Wscale")])
        out += [
            helper.make_node("Abs", [x], [f"{p}/abs"], name=f"{p}/Abs"),
            helper.make_node("ReduceMax", [f"{p}/abs"], [f"{p}/amax"], axes=[-1], keepdims=1,
                             name=f"{p}/ReduceMax"),
            # an all-zero row gets a tiny scale instead of a division by zero
            helper.make_node("Max", [f"{p}/amax", "rows/tiny"], [f"{p}/amax+"], name=f"{p}/Max"),
            helper.make_node("Mul", [f"{p}/amax+", "rows/inv127"], [f"{p}/scale"], name=f"{p}/Scale"),
            helper.make_node("Div", [x, f"{p}/scale"], [f"{p}/scaled"], name=f"{p}/Div"),
            helper.make_node("QuantizeLinear", [f"{p}/scaled", "rows/one", "rows/zp128"],
                             [f"{p}/codes"], name=f"{p}/QuantizeRows"),
            helper.make_node("MatMulIntegerToFloat",
                             [f"{p}/codes", f"{p}/Wq", "rows/one", f"{p}/Wscale", "rows/zp128",
                              "rows/zp0"], [f"{p}/product"], domain=MS_DOMAIN,
                             name=f"{p}/MatMulIntegerToFloat"),
            helper.make_node("Mul", [f"{p}/product", f"{p}/scale"], [y], name=f"{p}/RowScale"),
        ]
    del g.node[:]
    g.node.extend(out)
    used = {i for n in g.node for i in n.input}
    kept = [i for i in g.initializer if i.name in used]  # the replaced float weights go
    del g.initializer[:]
    g.initializer.extend(kept)
    return model
