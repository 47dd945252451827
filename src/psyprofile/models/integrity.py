"""One integrity record over all of a model folder's files: keyed here, published for bundled.

A model folder (``model.json``, ``arrays.npz``, ``card.json``, ``card.md``, ``folds.csv``, a
lexicon file...) is either intact or refused as a whole. Two kinds of record:

* **Models made here** carry ``integrity.json``: the SHA-256 of every file of the folder and
  an HMAC-SHA256 of that list under the *installation's model key*. Editing any file, or
  editing a file and recomputing its hash, or rewriting ``integrity.json`` itself, needs the
  key. The key is 32 random bytes (hex) in ``model.key`` in psyprofile's user config folder
  (``platformdirs.user_config_dir("psyprofile")``; ``$XDG_CONFIG_HOME/psyprofile`` on Linux),
  created mode 0600 on the first save, and refused if others can read it. It is the
  installation's, not a study's, because models move between studies (train in one, score
  another). To use a model on another installation, copy the key file there too (both then
  trust each other's models) or re-train the model there.
* **Bundled models** (``psyprofile/models/bundled/NAME``) carry no key: their files' SHA-256
  are published in :mod:`psyprofile.models.bundled_sha256`, code shipped with psyprofile and
  written by ``scripts/build_bundled_models.py``.

:func:`verify` returns the verified bytes of every listed file, so what is parsed is what was
checked (no second read). File names must be plain names of regular files inside the folder
(no path separators, no symlinks, no devices): a record or ``model.json`` naming anything else
is refused before the file system is touched, with the same message whatever that name is.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from psyprofile.errors import PsyprofileError

RECORD = "integrity.json"
RECORD_FORMAT = "psyprofile-model-integrity"
RECORD_VERSION = 1
KEY_FILE = "model.key"
MAX_FILE_BYTES = 256 << 20  # any one file of a model (the bundled ones are < 0.2 MB)
MAX_FILES = 64
_PLAIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class Verified:
    """A model folder whose files match their integrity record.

    ``files``: file name -> its bytes (as verified). ``digest``: see :func:`content_digest`.
    ``provenance``: ``"bundled"`` (published digests) or ``"keyed"`` (this installation's key).
    """

    files: dict[str, bytes]
    digest: str
    provenance: str


def is_plain_name(name: object) -> bool:
    """Whether ``name`` is a bare file name (letters, digits, ``._-``; no separators, no
    leading dot), the only kind a model folder may name."""
    return isinstance(name, str) and _PLAIN.fullmatch(name) is not None and ".." not in name


def content_digest(sha256s: dict[str, str]) -> str:
    """SHA-256 (hex) of a model's file list ``{name: sha256}``: the model's identity.

    It changes whenever any file of the model changes, is the same for every copy of the
    model on any installation (no key enters it), and does not depend on the folder's path."""
    return hashlib.sha256(_canonical(sha256s)).hexdigest()


def _canonical(sha256s: dict[str, str]) -> bytes:
    return json.dumps({"files": sha256s}, sort_keys=True, separators=(",", ":")).encode()


# -- the installation's key --------------------------------------------------------------


def key_path() -> Path:
    """Where this installation's model key lives (see the module docstring)."""
    import platformdirs

    return Path(platformdirs.user_config_dir("psyprofile")) / KEY_FILE


def installation_key(create: bool = False) -> bytes | None:
    """This installation's model key (32 bytes); None if there is none and not ``create``.

    Creation is atomic (written to a private temporary file, then hard-linked into place), so
    concurrent first saves agree on one key."""
    path = key_path()
    if not path.exists():
        if not create:
            return None
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, (secrets.token_hex(32) + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process made the key first: use theirs
        finally:
            tmp.unlink()
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    st = path.stat()
    if st.st_mode & 0o077:
        raise PsyprofileError(
            f"{path}: the model key is readable or writable by other users (mode "
            f"{stat.S_IMODE(st.st_mode):o}), so anyone could sign a changed model. Run "
            f"`chmod 600 {path}`.")
    text = path.read_text().strip()
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise PsyprofileError(
            f"{path}: not a psyprofile model key (64 hex digits expected). Restore it from a "
            "backup, or delete it: a new key is made on the next save, and models saved with "
            "the old key must then be re-trained.")
    return bytes.fromhex(text)


def key_id(key: bytes) -> str:
    """A short public name of ``key`` (it reveals nothing about the key), kept in records so
    that a model from another installation is told apart from a changed one."""
    return hashlib.sha256(b"psyprofile model key id\0" + key).hexdigest()[:16]


# -- reading files safely ---------------------------------------------------------------


def read_plain_file(folder: Path, name: str, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of regular file ``folder/name`` (``name`` a plain name, see
    :func:`is_plain_name`; no symlink followed; at most ``limit`` bytes)."""
    if not is_plain_name(name):
        raise ValueError("not a plain file name")
    fd = os.open(folder / name, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _unfit(folder, name, "is not a regular file")
        if st.st_size > limit:
            raise _unfit(folder, name, f"is larger than the {limit >> 20} MB a model file may be")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise _unfit(folder, name, f"is larger than the {limit >> 20} MB a model file may be")
    return data


def _unfit(folder: Path, name: str, why: str) -> PsyprofileError:
    return PsyprofileError(f"{folder / name}: {why}. Use the original model files, or re-train "
                           "the model with `psyprofile train ... --save`.")


def _hash_files(folder: Path, names: list[str]) -> dict[str, bytes]:
    out = {}
    for name in names:
        try:
            out[name] = read_plain_file(folder, name)
        except FileNotFoundError:
            raise PsyprofileError(
                f"{folder}: file {name} of the model is missing. Use the original model "
                "files, or re-train the model with `psyprofile train ... --save`.") from None
        except OSError as exc:  # a symlink (ELOOP), a directory, no permission...
            raise _unfit(folder, name, f"cannot be read as a plain file ({exc.strerror})") from None
    return out


# -- writing and checking records --------------------------------------------------------


def model_files(folder: Path) -> list[str]:
    """The files of a model folder a record covers: every regular file but the record."""
    names = sorted(p.name for p in folder.iterdir()
                   if p.name != RECORD and p.is_file() and not p.is_symlink())
    bad = [n for n in names if not is_plain_name(n)]
    if bad or len(names) > MAX_FILES:
        raise PsyprofileError(
            f"{folder}: a model folder holds at most {MAX_FILES} files with plain names "
            "(letters, digits, '._-'); move other files out of it before saving.")
    return names


def sign(folder: Path) -> str:
    """Write ``folder/integrity.json`` over all of its files with this installation's key
    (created if needed); returns the model's :func:`content_digest`."""
    key = installation_key(create=True)
    assert key is not None
    sums = {n: hashlib.sha256(b).hexdigest() for n, b in _hash_files(folder, model_files(folder)).items()}
    record = {"format": RECORD_FORMAT, "version": RECORD_VERSION, "files": sums,
              "key_id": key_id(key),
              "hmac": hmac.new(key, _canonical(sums), hashlib.sha256).hexdigest()}
    tmp = folder / f".{RECORD}.tmp"
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True))
    tmp.replace(folder / RECORD)
    return content_digest(sums)


def published_sha256(folder: Path) -> dict[str, str] | None:
    """The published file digests of bundled model ``folder.name``, if it is one."""
    from psyprofile.models.bundled_sha256 import SHA256

    return SHA256.get(folder.name)


def verify(folder: Path) -> Verified:
    """Check ``folder`` against its integrity record; raises :class:`PsyprofileError` naming
    what differs and the fix. Bundled models (by folder name, with no ``integrity.json``) are
    checked against the published digests, anything else against ``integrity.json``."""
    has_record = (folder / RECORD).is_file()
    published = None if has_record else published_sha256(folder)
    if published is not None:
        files, changed = _changed(folder, published)
        if changed:
            from psyprofile import __version__

            raise PsyprofileError(
                f"{folder}: {', '.join(changed)} differ from the files of bundled model "
                f"'{folder.name}' shipped with psyprofile {__version__}. Reinstall psyprofile, "
                "or re-train the model under another name.")
        return Verified(files, content_digest(published), "bundled")
    if not has_record:
        raise PsyprofileError(
            f"{folder}: the model has no integrity record ({RECORD}), so a changed copy cannot "
            "be told from the original (models saved by an older psyprofile have none). "
            "Re-train it with `psyprofile train ... --save NAME`.")
    sums, signer, signature = _read_record(folder)
    key = installation_key(create=False)
    if key is None or not hmac.compare_digest(signer, key_id(key)):
        raise PsyprofileError(
            f"{folder}: the model was saved on another psyprofile installation (its integrity "
            f"record is signed with another model key than {key_path()}). Re-train it here, or "
            "copy the model key file of the installation that made it to that path.")
    expected = hmac.new(key, _canonical(sums), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature, expected):
        raise PsyprofileError(
            f"{folder / RECORD}: the integrity record was changed (its signature does not match "
            "this installation's model key). Use the original model files, or re-train the "
            "model with `psyprofile train ... --save`.")
    files, changed = _changed(folder, sums)
    if changed:
        raise PsyprofileError(
            f"{folder}: {', '.join(changed)} changed after the model was saved (the SHA-256 "
            f"differs from the signed {RECORD}). Use the original model files, or re-train the "
            "model with `psyprofile train ... --save`.")
    return Verified(files, content_digest(sums), "keyed")


def _changed(folder: Path, sums: dict[str, str]) -> tuple[dict[str, bytes], list[str]]:
    """The files named in ``sums`` (name -> expected SHA-256) and those whose digest differs."""
    files = _hash_files(folder, sorted(sums))
    return files, [n for n, b in files.items() if hashlib.sha256(b).hexdigest() != sums[n]]


def _read_record(folder: Path) -> tuple[dict[str, str], str, str]:
    """``({name: sha256}, key id, hmac)`` of a well-formed record."""
    bad = PsyprofileError(
        f"{folder / RECORD}: not a psyprofile integrity record. Use the original model files, "
        "or re-train the model with `psyprofile train ... --save`.")
    try:
        rec = json.loads(read_plain_file(folder, RECORD, 1 << 20))
    except (OSError, ValueError):
        raise bad from None
    if not isinstance(rec, dict) or rec.get("format") != RECORD_FORMAT or rec.get(
            "version") != RECORD_VERSION or not isinstance(rec.get("files"), dict):
        raise bad
    files = rec["files"]
    if len(files) > MAX_FILES or not all(
            is_plain_name(n) and isinstance(h, str) and re.fullmatch(r"[0-9a-f]{64}", h)
            for n, h in files.items()):
        raise bad
    if not isinstance(rec.get("key_id"), str) or not isinstance(rec.get("hmac"), str):
        raise bad
    return dict(files), rec["key_id"], rec["hmac"]


def publish_bundled(bundled: Path, module: Path) -> dict[str, dict[str, str]]:
    """Write the published digests of every model folder under ``bundled`` into ``module``
    (:mod:`psyprofile.models.bundled_sha256`); a folder's own ``integrity.json`` (signed with
    the key of whoever built it) is removed, as no other installation could check it."""
    out = {}
    for folder in sorted(p for p in bundled.iterdir() if p.is_dir() and is_plain_name(p.name)):
        (folder / RECORD).unlink(missing_ok=True)
        out[folder.name] = {n: hashlib.sha256(b).hexdigest()
                            for n, b in _hash_files(folder, model_files(folder)).items()}
    body = json.dumps(out, indent=4, sort_keys=True)
    module.write_text(
        '"""SHA-256 of every file of the models shipped in ``psyprofile/models/bundled/``.\n\n'
        "Written by ``scripts/build_bundled_models.py`` (do not edit): a bundled model loads only\n"
        'if its files are exactly these (see :mod:`psyprofile.models.integrity`).\n"""\n\n'
        f"SHA256: dict[str, dict[str, str]] = {body}\n")
    return out
