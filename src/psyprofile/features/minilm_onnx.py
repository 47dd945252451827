"""ONNX Runtime builds of the bundled all-MiniLM-L6-v2: the fast faithful default runtime.

Both files are produced once per machine from the model's weights
(:mod:`psyprofile.features.minilm_weights`), under a file lock, atomically, in
``<psyprofile cache>/embeddings`` (:mod:`psyprofile.features.build_once`), and each is
recorded with its sha256 in a
``<file>.json`` manifest that is checked whenever the file is loaded:

* ``onnx-fp32``: the encoder, mean pooling and L2 norm written as an ONNX graph straight
  from ``model.safetensors`` (:mod:`psyprofile.features.bert_graph`), in the fused form
  ONNX Runtime's BERT optimiser made of torch's export until recipe r3 (EmbedLayerNormalization,
  Attention, BiasGelu; the same weights bit for bit), so the same vectors as torch. The
  residual adds and layer norms are deliberately *not* fused into SkipLayerNormalization,
  there or at session start (:data:`UNFUSED`): that kernel cost about 20% of an int8 window
  of 256 wordpieces, the separate Add and LayerNormalization about 8%.
* ``onnx-int8``: that graph with int8 matrix products, weights **per output channel**
  (per-tensor weights, the default, lose too much: mean cosine .94, min .79 to fp32 on blog
  posts, issue 18), activations quantised dynamically per tensor, except the feed-forward
  output product of the first layer, whose input carries the largest outliers: that one is
  quantised **per row** (each token by its own largest value, :data:`ROW_QUANTIZED`,
  :mod:`psyprofile.features.int8_rows`). Until recipe r3 it stayed fp32, which raised the
  mean cosine to fp32 from .9930 to .9946 (long) and .9924 to .9941 (short) on 60 long and
  200 short blog windows but cost 8% of a short window; per row it keeps that fidelity
  (800 short / 84 long posts: mean .9940 / .9941, min .9817 / .9893, against .9941 / .9944
  and .9772 / .9879 for r3) and made a window about 5% faster than r3 on one thread (short
  304 against 288 windows/s, long 48.9 against 47.0, alternating in one run). The embedding
  lookup stays fp32. On CPUs without VNNI (AVX2 only), 8-bit products can saturate, so the
  weights are quantised to 7 bits there (``reduce_range``, and ``weight_bits=7`` for the
  per-row product); which one ran is part of the runtime id.

  Tried for issue 18 and not kept (measured on one thread, the machine shared): every
  product per row, the fused attention split into a product and ``MultiHeadAttention`` so
  its QKV product is per row too, makes a window's vector independent of its batch (so int8
  could batch like fp32) and is more faithful (mean .9968 / .9976, min .9826 / .9916), but
  the extra element-wise ops ate the batching gain: short posts in batches of 4 only 5%
  faster than r3 one window per call, long posts 12% slower (batching never helped them).
  ONNX Runtime 1.32's ``MatMulNBits`` (8 bits, ``accuracy_level=4``, blocks of 32: per-row
  activations, cosine .9998) ran no faster than fp32 here, nor did its 4-bit form (and
  that lost fidelity: mean .976).

Producing the files needs ``safetensors``, ``onnx`` and onnxruntime, running them
onnxruntime and ``tokenizers`` (all in psyprofile's ``[embeddings]`` extra); neither imports
torch, which only the torch runtimes (the ``[reference]`` extra) use.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from psyprofile.datasets.pypi import cache_dir
from psyprofile.digests import sha256_file
from psyprofile.errors import PsyprofileError
from psyprofile.features import minilm_weights
from psyprofile.features.bert_graph import write_bert_graph
from psyprofile.features.build_once import build_once

RECIPE = "r4"  # bump when the export or quantisation changes, so stale builds are rebuilt
KINDS = ("fp32", "int8")
UNFUSED = ["SkipLayerNormFusion"]  # ONNX Runtime fusions kept off: see the module docstring
# int8 products quantised per row, not per tensor: see the module docstring
ROW_QUANTIZED = ["/bert/encoder/layer.0/output/dense/MatMul"]


def cpu_flags() -> set[str]:
    """The CPU's feature flags (``/proc/cpuinfo``; empty where that file does not exist)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def has_vnni(flags: set[str] | None = None) -> bool:
    """True when the CPU multiplies int8 natively (AVX512-VNNI, AVX-VNNI or AMX)."""
    flags = cpu_flags() if flags is None else flags
    return bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8"})


def _variant(kind: str) -> str:
    if kind == "int8":
        return "int8pc" + ("" if has_vnni() else "-rr")
    return kind


def onnx_path(kind: str) -> Path:
    """Where the ``kind`` ('fp32' or 'int8') build of the model lives."""
    return (cache_dir() / "embeddings"
            / f"minilm-{minilm_weights.VERSION}-onnx-{RECIPE}-{_variant(kind)}.onnx")


def _need(modules: str, purpose: str) -> None:
    raise PsyprofileError(
        f"{purpose} needs {modules}, which are not installed. Install them with "
        f"`pip install {modules.replace(',', '').replace(' and', '')}` (or "
        "`pip install 'psyprofile[embeddings]'`, which has them), or choose another runtime."
    )


def _export_fp32(tmp: Path) -> None:
    """The bundled model (pooled, normalised) as a fused ONNX graph, from its safetensors."""
    try:
        import onnx  # noqa: F401
        import safetensors  # noqa: F401
    except ImportError:
        _need("onnx and safetensors", "building the ONNX file of MiniLM (once per machine)")
    write_bert_graph(minilm_weights.model_dir(), tmp)


def _quantize_int8(tmp: Path) -> None:
    """Int8 quantisation of the fp32 build: :data:`ROW_QUANTIZED` per row
    (:mod:`psyprofile.features.int8_rows`), every other product dynamically, weights per
    output channel."""
    try:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        _need("onnx and onnxruntime", "quantising MiniLM to int8 (once per machine)")
    from psyprofile.features.int8_rows import quantize_rows

    fp32 = ensure_built("fp32")
    model = onnx.load(str(fp32))
    try:
        quantize_rows(model, ROW_QUANTIZED, weight_bits=8 if has_vnni() else 7)
    except KeyError as e:  # an export that names its nodes differently
        raise PsyprofileError(f"{fp32}: {e.args[0]}; the int8 recipe {RECIPE} does not fit "
                              "this export. Please report this.") from None
    # the model object itself (onnxruntime >= 1.18): a copy saved beside ``tmp`` for it to
    # read back (~90 MB) was left behind by a killed build, outside what build_once cleans
    quantize_dynamic(model, str(tmp), per_channel=True,
                     reduce_range=not has_vnni(), weight_type=QuantType.QInt8,
                     op_types_to_quantize=["MatMul", "Attention"],
                     # the fused graph's contrib ops have no inferred types; all are float
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def _manifest(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def ensure_built(kind: str) -> Path:
    """The ``kind`` build's path, produced first if this machine has none yet."""
    if kind not in KINDS:
        raise PsyprofileError(f"unknown ONNX build '{kind}'; choose one of {', '.join(KINDS)}.")
    path = onnx_path(kind)

    def build(tmp: Path) -> None:
        (_export_fp32 if kind == "fp32" else _quantize_int8)(tmp)
        import onnxruntime

        info = {"file": path.name, "sha256": sha256_file(tmp), "recipe": RECIPE,
                "variant": _variant(kind), "onnxruntime": onnxruntime.__version__,
                "source": f"{minilm_weights.SOURCE} model.safetensors",
                "source_sha256": minilm_weights.WEIGHTS_SHA256}
        _manifest(path).write_text(json.dumps(info, indent=1))

    return build_once(path, build)


@lru_cache(maxsize=4)
def build_info(kind: str) -> dict[str, Any]:
    """The manifest of the ``kind`` build, after checking the file's sha256 against it."""
    path = ensure_built(kind)
    try:
        info = json.loads(_manifest(path).read_text())
    except (OSError, ValueError):
        info = {}
    if info.get("sha256") != sha256_file(path):
        raise PsyprofileError(
            f"{path}: the ONNX file does not match its recorded sha256 (damaged or replaced). "
            "Delete it and its .json file; it is rebuilt from the bundled weights on next use."
        )
    return info


def session(kind: str) -> Any:
    """An ONNX Runtime CPU session of the verified ``kind`` build."""
    try:
        import onnxruntime as ort
    except ImportError:
        _need("onnxruntime", f"the onnx-{kind} runtime")
    build_info(kind)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    # Idle worker threads that spin burn the cores other jobs (and torch) need: on the
    # shared 2-core machine spinning cost int8 half its speed on short posts.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if kind == "int8":
        # int8 runs one window per call (see embeddings.MiniLM): such small products gain
        # nothing from a second thread, and one thread per call was 2.2x faster than two
        # on short posts there (3.9x torch fp32 instead of 1.8x).
        opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(onnx_path(kind)), opts, providers=["CPUExecutionProvider"],
                                disabled_optimizers=UNFUSED)

