"""What a workspace holds, as one JSON-ready dict with stable keys."""

from __future__ import annotations

from typing import Any

from psyprofile.store.db import one, quote_ident, scalar
from psyprofile.store.workspace import Workspace


def workspace_summary(ws: Workspace) -> dict[str, Any]:
    """Counts of posts, users, languages, groups and the ingest log of ``ws``.

    Keys: ``study``, ``path``, ``posts``, ``users``, ``languages`` (code -> posts),
    ``date_range`` ([first, last] ISO or nulls), ``followers_only`` (stored posts only the
    author's followers could see, semi-private), ``group_columns`` (name -> distinct
    values), ``rejected`` (reason -> rows, over all runs), ``runs`` (one dict per ingest
    run: ``files``, its per-file counts by reason; ``formats``, file -> the format it was
    read as; ``notes``, the run's ingest notes), ``tables`` (name -> rows).
    """
    with ws.connect(read_only=True) as con:
        posts, users, first, last = one(con,
            "SELECT count(*), count(DISTINCT user_id), min(created_at), max(created_at) FROM messages"
        )
        languages = dict(con.execute(
            "SELECT lang, count(*) FROM messages GROUP BY lang ORDER BY count(*) DESC, lang"
        ).fetchall())
        followers = scalar(con, "SELECT count(*) FROM messages WHERE audience = 'followers'")
        groups = {}
        for (name,) in con.execute("SELECT name FROM group_columns ORDER BY name").fetchall():
            groups[name] = scalar(con, f"SELECT count(DISTINCT {quote_ident(name)}) FROM messages")
        rejected = dict(con.execute(
            "SELECT reason, sum(count)::BIGINT FROM ingest_log WHERE reason <> 'stored' "
            "GROUP BY reason ORDER BY sum(count) DESC, reason"
        ).fetchall())
        runs = []
        for run_id, started, status, read, stored in con.execute(
            "SELECT run_id, started_at, status, rows_read, rows_stored FROM ingest_runs ORDER BY run_id"
        ).fetchall():
            files: dict[str, dict[str, int]] = {}
            for file, reason, n in con.execute(
                "SELECT file, reason, count FROM ingest_log WHERE run_id = ? ORDER BY file, reason", [run_id]
            ).fetchall():
                files.setdefault(file, {})[reason] = n
            notes = [n for (n,) in con.execute("SELECT note FROM ingest_notes WHERE run_id = ?", [run_id]).fetchall()]
            formats = dict(con.execute("SELECT file, format FROM ingest_files WHERE run_id = ? "
                                       "ORDER BY file", [run_id]).fetchall())
            runs.append({
                "run_id": run_id, "started_at": started.isoformat() if started else None,
                "status": status, "rows_read": read, "rows_stored": stored, "files": files,
                "formats": formats, "notes": notes,
            })
        tables = {
            name: scalar(con, f"SELECT count(*) FROM {quote_ident(name)}")
            for (name,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
                "AND table_type = 'BASE TABLE' ORDER BY table_name"
            ).fetchall()
        }
    return {
        "study": ws.config.get("name"),
        "path": str(ws.path),
        "posts": posts,
        "users": users,
        "languages": languages,
        "date_range": [first.isoformat() if first else None, last.isoformat() if last else None],
        "followers_only": followers,
        "group_columns": groups,
        "rejected": rejected,
        "runs": runs,
        "tables": tables,
    }
