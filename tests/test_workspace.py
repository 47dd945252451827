"""The study workspace, and the CLI commands that create, fill, describe and export it."""

from __future__ import annotations

import csv
import json
import re
import stat
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from psyprofile.cli.main import cli
from psyprofile.errors import WorkspaceError
from psyprofile.store.workspace import Workspace

FIX = Path(__file__).parent / "fixtures" / "io"


def test_create_makes_db_config_and_private_key(tmp_path):
    ws = Workspace.create(tmp_path / "study", name="pilot")
    assert ws.db_path.is_file()
    assert stat.S_IMODE(ws.key_path.stat().st_mode) == 0o600
    assert re.fullmatch(r"[0-9a-f]{64}\n", ws.key_path.read_text())
    config = tomllib.loads(ws.config_path.read_text())["study"]
    assert config["name"] == "pilot"
    assert config["min_words"] == 500
    assert Workspace.open(tmp_path / "study").config["name"] == "pilot"


def test_second_create_refuses(tmp_path):
    Workspace.create(tmp_path / "study")
    key = (tmp_path / "study" / "secret.key").read_text()
    with pytest.raises(WorkspaceError, match=r"a study already exists here \(study.duckdb found\); refusing"):
        Workspace.create(tmp_path / "study")
    assert (tmp_path / "study" / "secret.key").read_text() == key


def test_open_non_study(tmp_path):
    with pytest.raises(WorkspaceError, match=r"no study here \(study.duckdb not found\)\. Create one with "
                                             r"`psyprofile init "):
        Workspace.open(tmp_path)


# --- CLI -----------------------------------------------------------------------------


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_cli_init_twice(tmp_path):
    study = tmp_path / "study"
    res = invoke("init", study)
    assert res.exit_code == 0, res.output
    assert "created study 'study'" in res.output
    assert stat.S_IMODE((study / "secret.key").stat().st_mode) == 0o600
    res = invoke("init", study)
    assert res.exit_code == 2
    assert "a study already exists here" in res.output
    assert "Traceback" not in res.output


def test_cli_ingest_info_export_round_trip(tmp_path):
    study = tmp_path / "study"
    assert invoke("init", study).exit_code == 0
    res = invoke("ingest", study, FIX / "posts.csv", FIX / "reddit.ndjson", "--quiet")
    assert res.exit_code == 0, res.output
    # files are named by position and label, never by name (it may name a donor)
    assert re.search(r"file 1, file-[0-9a-f]{12} \(csv\): 26 rows read, 20 stored", res.output)
    assert re.search(r"file 2, file-[0-9a-f]{12} \(reddit\): 23 rows read, 16 stored", res.output)
    assert "posts.csv" not in res.output and "reddit.ndjson" not in res.output
    assert "skipped 2 deleted user" in res.output

    res = invoke("info", study, "--json")
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["posts"] == 36
    assert info["users"] == 4 + 3
    assert info["rejected"] == {
        "no_text": 3, "bad_time": 2, "deleted_text": 2, "deleted_user": 2,
        "bad_json": 1, "bad_row": 1, "duplicate": 1, "no_user": 1,
    }
    assert info["languages"] == {"en": 36}
    assert info["date_range"] == ["2017-07-14T02:40:00", "2021-03-20T15:15:00"]

    out = tmp_path / "x.csv"
    res = invoke("export", study, "posts", "--out", out)
    assert res.exit_code == 0, res.output
    assert "wrote 36 posts rows" in res.output
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 36
    assert {r["subreddit"] for r in rows} == {"", "AskReddit", "books", "pics"}
    ws = Workspace.open(study)
    with ws.connect(read_only=True) as con:
        stored = set(con.execute("SELECT user_id, message_id FROM messages").fetchall())
    assert {(r["user_id"], r["message_id"]) for r in rows} == stored
    pseudo = ws.pseudonymizer("user")
    assert {r["user_id"] for r in rows} == {pseudo(f"user{i}") for i in range(4)} | {
        pseudo(f"redditor{i}") for i in range(3)
    }


def test_cli_missing_columns_is_a_clear_error(tmp_path):
    study = tmp_path / "study"
    invoke("init", study)
    res = invoke("ingest", study, FIX / "no_columns.csv", "--quiet")
    assert res.exit_code == 2
    assert "no text or user column found. Columns found: foo, bar." in res.output
    assert "--text-col NAME and --user-col NAME" in res.output
    assert "Traceback" not in res.output


def test_cli_on_a_folder_that_is_no_study(tmp_path):
    res = invoke("info", tmp_path)
    assert res.exit_code == 2
    assert "Create one with `psyprofile init" in res.output
