"""Per-row int8 products (features.int8_rows): each token's result depends on that token
alone, and a token with an outlier does not coarsen the others, checked by running the
rewritten graph in ONNX Runtime against the float product."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from psyprofile.features.int8_rows import quantize_rows  # noqa: E402

K, N = 64, 48


def matmul_model(W: np.ndarray):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "s", K])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", "s", N])
    node = helper.make_node("MatMul", ["x", "W"], ["y"], name="/layer/MatMul")
    graph = helper.make_graph([node], "g", [x], [y], [numpy_helper.from_array(W, "W")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def run(model, x: np.ndarray) -> np.ndarray:
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, {"x": x})[0]


def rel_err(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """Relative error of each row (..., N) -> (...)."""
    return np.linalg.norm(got - want, axis=-1) / np.linalg.norm(want, axis=-1)


@pytest.fixture(scope="module")
def case():
    rng = np.random.default_rng(0)
    W = rng.normal(size=(K, N)).astype(np.float32)
    return W, quantize_rows(matmul_model(W), ["/layer/MatMul"])


def test_rows_are_quantised_on_their_own(case):
    W, model = case
    assert "MatMul" not in {n.op_type for n in model.graph.node}
    assert {i.name for i in model.graph.initializer}.isdisjoint({"W"})  # float weight dropped
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 5, K)).astype(np.float32)
    x[0, 0, 7] = 400.0  # one token with a large outlier, as BERT's activations have
    got = run(model, x)
    # each token as the only row of its call: the same result (up to summation order)
    for b in range(3):
        for s in range(5):
            alone = run(model, x[b:b + 1, s:s + 1])[0, 0]
            np.testing.assert_allclose(got[b, s], alone, rtol=1e-5, atol=1e-5)
    err = rel_err(got, x @ W)
    # the outlier token does not coarsen its neighbours: per-tensor scaling would give
    # them a step of 400/127 (errors near 1); per row they stay near 8-bit precision
    assert err.max() < 0.02, err.max()


def test_all_zero_row_and_missing_node(case):
    _, model = case
    x = np.zeros((1, 2, K), np.float32)
    x[0, 1] = 1.0
    got = run(model, x)
    assert np.isfinite(got).all() and not got[0, 0].any()
    with pytest.raises(KeyError, match="/no/such/MatMul"):
        quantize_rows(matmul_model(np.ones((K, N), np.float32)), ["/no/such/MatMul"])


def test_seven_bit_weights_stay_within_63():
    W = np.random.default_rng(2).normal(size=(K, N)).astype(np.float32)
    model = quantize_rows(matmul_model(W), ["/layer/MatMul"], weight_bits=7)
    codes = numpy_helper.to_array(next(i for i in model.graph.initializer if i.name.endswith("/Wq")))
    assert codes.dtype == np.int8 and np.abs(codes).max() == 63
