"""What the service serves: a study or a folder of models, its profile sources and limits.

Settings live in an optional ``SERVED/api/config.toml``::

    [profile]
    min_words = 500            # default: the study's min_words, else the default study setting
    big5 = "wwbp"              # default; "zeroshot", saved model name(s) joined by ',', "none"
    embedder = "minilm"        # zero-shot embedder; "minilm-static" is ~10x faster, less valid;
                               # "e5-multilingual" reads posts in ~100 languages
    vader = true

    [profile.lexica]           # files standing in for bundled lexica (no download);
    nrc_emot = "lexica/nrc_emot.csv"   # relative paths are relative to config.toml

    [limits]
    max_body_bytes = 2097152   # /v1/profile and JSON jobs
    max_upload_bytes = 67108864  # multipart job uploads

Without ``[profile.lexica]`` the profile uses every bundled lexicon (see
:func:`psyprofile.profiles.spec.default_spec`).

Every model a profile uses (lexica, trait directions, the embedder, saved models) is built or
loaded once per process, before the first profile: :meth:`Service.prepare` does it under a
lock (concurrent first requests wait for the one build), started in the background when the
server starts; each worker process does the same once, as it starts.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import threading
import time
import tomllib
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psyprofile.api.store import API_DIR
from psyprofile.engine.lifeline import lifeline_then
from psyprofile.errors import PsyprofileError
from psyprofile.privacy.pseudonym import Pseudonymizer
from psyprofile.store.workspace import DB_NAME, DEFAULT_CONFIG, Workspace

CONFIG_FILE = "config.toml"
DEFAULT_MIN_WORDS = DEFAULT_CONFIG["min_words"]
# Enough words to pass any min_words of 1 and reach every source of the profile.
WARMUP_TEXTS = ["Today I walked to work with my friends, and we talked about the weekend, "
                "the weather and what we will do next year."]
log = logging.getLogger("psyprofile.api")


@dataclass
class Limits:
    """Byte limits on request bodies."""

    max_body_bytes: int = 2 << 20
    max_upload_bytes: int = 64 << 20


@dataclass
class Service:
    """The served folder, opened: study (if any), profile spec, limits.

    ``profile(texts, timestamps)`` is the one call every endpoint and job goes through.
    """

    folder: Path
    workspace: Workspace | None
    spec: Any  # psyprofile.profiles.spec.ProfileSpec
    min_words: int
    limits: Limits = field(default_factory=Limits)
    _pool: ProcessPoolExecutor | None = field(default=None, repr=False)
    _workers: int = 0
    _ready: bool = field(default=False, repr=False)
    _build_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def open(cls, folder: str | Path) -> Service:
        """Open ``folder`` (a study, or a folder of models) and read its service settings."""
        folder = Path(folder)
        if not folder.is_dir():
            raise PsyprofileError(f"{folder}: no such folder. Serve a study (made with "
                                  "`psyprofile init`) or a folder of saved models.")
        ws = Workspace.open(folder) if (folder / DB_NAME).exists() else None
        conf_path = folder / API_DIR / CONFIG_FILE
        try:
            conf = tomllib.loads(conf_path.read_text()) if conf_path.is_file() else {}
        except tomllib.TOMLDecodeError as exc:
            raise PsyprofileError(f"{conf_path}: not valid TOML ({exc}); fix it.") from None
        prof = conf.get("profile", {})
        default_min = ws.config["min_words"] if ws is not None else DEFAULT_MIN_WORDS
        try:
            limits = Limits(**conf.get("limits", {}))
        except TypeError as exc:
            raise PsyprofileError(f"{conf_path}: unknown setting in [limits] ({exc}); the "
                                  "settings are max_body_bytes and max_upload_bytes.") from None
        return cls(folder, ws, _spec(prof, conf_path.parent),
                   int(prof.get("min_words", default_min)), limits)

    def pseudonymizer(self) -> Pseudonymizer | None:
        """The study's keyed hash for user ids, or None when serving models only."""
        return self.workspace.pseudonymizer() if self.workspace is not None else None

    def start_workers(self, n: int) -> None:
        """Compute profiles in ``n`` worker processes (0: in this process, on its threads).

        Profiling is CPU-bound Python, so threads share one core; processes use them all.
        """
        if n > 0:
            self._workers = n
            self._pool = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"),
                                             # workers end with a crashed server
                                             initializer=lifeline_then,
                                             initargs=(prepare_models, self.spec, "worker"))

    def prepare(self) -> None:
        """Build or load every model the profile uses, once per process (see the module
        docstring): the first caller builds under a lock, concurrent callers wait for it;
        a failed build is retried by the next caller. With worker processes, each worker
        builds its own as it starts, and this process builds nothing."""
        if self._ready:
            return
        with self._build_lock:
            if self._ready:
                return
            if self._pool is not None:
                # Starts the workers (their initializer builds) and waits for one of them.
                self._pool.submit(_ping).result()
            else:
                prepare_models(self.spec, "server")
            self._ready = True

    def prepare_in_background(self) -> threading.Thread:
        """:meth:`prepare` on a daemon thread (errors are logged; requests retry it)."""
        def run() -> None:
            try:
                self.prepare()
            except Exception as exc:  # noqa: BLE001 - logged; the next request retries and reports
                from psyprofile.api.errors import log_exception

                log_exception(exc, "building the profile's models")

        t = threading.Thread(target=run, name="psyprofile-prepare", daemon=True)
        t.start()
        return t

    def stop_workers(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def profile(self, texts: list[str], timestamps: list[str] | None) -> dict[str, Any]:
        """One person's profile (C1 :func:`profile_texts`), JSON-safe (no NaN)."""
        args = (texts, timestamps, self.min_words, self.spec)
        self.prepare()
        if self._pool is None:
            return compute_profile(*args)
        try:
            return self._pool.submit(compute_profile, *args).result()
        except BrokenProcessPool:
            # A worker died (e.g. out of memory): start a fresh pool and try this one again.
            self.stop_workers()
            self.start_workers(self._workers)
            return self._pool.submit(compute_profile, *args).result()

    def models(self) -> list[dict[str, Any]]:
        """Models of the study (or of the served models folder) and bundled ones, with their
        cards as verified by their integrity records; a model that is not intact is listed
        by name only (``intact`` false), since nothing else in its folder can be trusted."""
        import json

        from psyprofile.models.integrity import verify
        from psyprofile.models.persist import MODELS_DIR, list_models

        root = self.folder
        if self.workspace is None and not (root / MODELS_DIR).is_dir() and root.name == MODELS_DIR:
            root = root.parent  # served the models folder itself
        out = []
        for m in list_models(root):
            try:
                verified = verify(Path(m["path"]))
            except PsyprofileError:
                out.append({"name": m["name"], "where": m["where"], "intact": False})
                continue
            card = verified.files.get("card.json")
            out.append({**m, "intact": True, "digest": verified.digest,
                        "card": json.loads(card) if card else None})
        return out


def _ping() -> None:
    """A no-op task: its result means a worker has started (and prepared its models)."""


def prepare_models(spec: Any, where: str) -> None:
    """Build or load every model of ``spec`` in this process by profiling a short text (the
    profile's loaders cache what they build); logs one line before and one after."""
    if where == "worker" and not log.handlers:
        # A spawned worker has no logging set up; its stderr is the server's.
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    log.info("building the profile's models in the %s process (embedder %s)", where,
             getattr(spec, "embedder", None))
    t0 = time.perf_counter()
    compute_profile(WARMUP_TEXTS, None, 1, spec)
    log.info("the profile's models are ready in the %s process (%.1f s)", where,
             time.perf_counter() - t0)


def compute_profile(texts: list[str], timestamps: list[str] | None, min_words: int,
                    spec: Any) -> dict[str, Any]:
    """:func:`profile_texts` with JSON-safe numbers (top level, so worker processes can run it)."""
    from psyprofile.profiles.texts import profile_texts

    return _json_safe(profile_texts(texts, timestamps=timestamps, min_words=min_words, spec=spec))


def _spec(prof: dict[str, Any], base: Path) -> Any:
    from dataclasses import replace

    from psyprofile.profiles.spec import (
        DEFAULT_BIG5,
        DEFAULT_EMBEDDER,
        default_spec,
        spec_from_lexica,
    )

    big5 = prof.get("big5", DEFAULT_BIG5)
    big5 = None if big5 in (None, "none", "") else big5
    # The profile's default (full MiniLM), not the 10x faster static copy, which turns
    # conscientiousness's relation with age around (docs/profiles.md); see docs/api.md.
    embedder = prof.get("embedder", DEFAULT_EMBEDDER)
    lexica = prof.get("lexica")
    if lexica:
        paths = {k: base / v for k, v in lexica.items()}
        spec = spec_from_lexica(paths, vader=bool(prof.get("vader", False)), big5=big5)
        return replace(spec, embedder=embedder)
    return default_spec(big5=big5, embedder=embedder)


def _json_safe(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_safe(v) for v in x]
    return x
