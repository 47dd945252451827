"""``psyprofile demo``: a whole study on the public blog corpus, one printed step at a time.

Each step prints a header, does one thing through the public library functions, and adds
what it made to the returned dict, so new steps (features, profiles, report) are appended
at the end of :func:`run_demo`.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from psyprofile.errors import WorkspaceError

DEFAULT_DIR = Path("psyprofile-demo")
DEMO_NAME = "blog-demo"


def _header(step: int, title: str) -> None:
    print(f"\n== step {step}: {title}", flush=True)


def is_study(path: Path) -> bool:
    """True when ``path`` holds a psyprofile study (its database and its settings file)."""
    from psyprofile.store.workspace import CONFIG_NAME, DB_NAME

    return (path / DB_NAME).is_file() and (path / CONFIG_NAME).is_file()


def prepare_study_dir(study_dir: Path, force: bool) -> None:
    """Make sure a new study can be created in ``study_dir``.

    A missing or empty folder is fine. A folder with anything in it is refused unless
    ``force`` is set, and even then it is deleted only when it is a psyprofile study: the demo
    never deletes a folder that merely happens to be at that path.
    """
    if not study_dir.exists():
        return
    if not study_dir.is_dir():
        raise WorkspaceError(f"{study_dir}: is a file, not a folder; choose another STUDY_DIR.")
    if not any(study_dir.iterdir()):
        return
    if not is_study(study_dir):
        raise WorkspaceError(
            f"{study_dir}: folder exists and is not a psyprofile study (no study.duckdb and "
            "psyprofile.toml); refusing to touch it, even with --force. Choose another STUDY_DIR."
        )
    if not force:
        raise WorkspaceError(
            f"{study_dir}: a study already exists here. Run with --force to delete it and "
            "build the demo again, or choose another STUDY_DIR."
        )
    shutil.rmtree(study_dir)


def run_demo(study_dir: Path = DEFAULT_DIR, force: bool = False,
             progress: bool = True) -> dict[str, Any]:
    """Build the demo study in ``study_dir`` from the blog corpus; returns what each step made.

    Keys: ``study`` (the folder), ``messages`` / ``users`` (the cached corpus files),
    ``ingest`` (:class:`~psyprofile.io.ingest.IngestReport`), ``outcomes``
    (:class:`~psyprofile.store.outcomes.OutcomeReport`).
    """
    from psyprofile.datasets.blogs import blog_corpus
    from psyprofile.datasets.dlatk_sdist import BLOG_CORPUS, DLATK
    from psyprofile.io.base import ColumnMap
    from psyprofile.io.ingest import ingest
    from psyprofile.store.outcomes import load_outcomes
    from psyprofile.store.workspace import Workspace

    study_dir = Path(study_dir)
    # Refuse early, before a download, when the folder cannot be used.
    prepare_study_dir(study_dir, force)
    out: dict[str, Any] = {"study": study_dir}

    _header(1, "get the blog corpus")
    for src in (BLOG_CORPUS, DLATK):
        print(f"{src.name}\n  cite: {src.citation}\n  terms: {src.licence}\n  {src.url}")
    out["messages"], out["users"] = blog_corpus(progress=progress)
    print(f"posts in {out['messages']}\nusers in {out['users']}")

    _header(2, f"create the study in {study_dir}")
    ws = Workspace.create(study_dir, name=DEMO_NAME)
    print(f"created study '{ws.config['name']}' (key {ws.key_path}: keep it private)")

    _header(3, "ingest the posts")
    columns = ColumnMap(id="message_id", user="user_id", time="created_time", text="message")
    out["ingest"] = ingest(ws, [out["messages"]], fmt="parquet", columns=columns,
                           progress=progress)
    print(out["ingest"].summary())

    _header(4, "load the bloggers' outcomes (gender, age, occupation, sign)")
    out["outcomes"] = load_outcomes(ws, out["users"], user_col="user_id")
    print(out["outcomes"].summary())
    return out
