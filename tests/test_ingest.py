"""The ingest pipeline: repeats, pseudonymous ids, raw ids, language filter."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from psyprofile.io.ingest import ingest
from psyprofile.store.workspace import Workspace

FIX = Path(__file__).parent / "fixtures" / "io"
HEX32 = re.compile(r"[0-9a-f]{32}")


def stored_ids(ws: Workspace) -> list[tuple[str, str]]:
    with ws.connect(read_only=True) as con:
        return con.execute("SELECT user_id, message_id FROM messages ORDER BY message_id").fetchall()


def test_ingesting_twice_adds_nothing_and_keeps_ids(tmp_path):
    ws = Workspace.create(tmp_path / "s")
    first = ingest(ws, [FIX / "posts.jsonl"], progress=False)
    ids = stored_ids(ws)
    second = ingest(ws, [FIX / "posts.jsonl"], progress=False)
    assert first.files[0].rows_read == second.files[0].rows_read == 26
    assert first.files[0].counts["stored"] == 18
    # Everything the first run stored is a duplicate now; the broken rows stay broken.
    assert second.files[0].counts == {
        "duplicate": 18, "bad_json": 2, "wrong_type": 3, "no_text": 1, "no_user": 1, "bad_time": 1,
    }
    assert stored_ids(ws) == ids
    with ws.connect(read_only=True) as con:
        log = con.execute(
            "SELECT run_id, reason, count FROM ingest_log WHERE reason IN ('stored', 'duplicate') ORDER BY run_id"
        ).fetchall()
    assert log == [(1, "stored", 18), (2, "duplicate", 18)]


def test_ids_are_keyed_32_hex_and_differ_between_studies(tmp_path):
    a = Workspace.create(tmp_path / "a")
    b = Workspace.create(tmp_path / "b")
    for ws in (a, b):
        ingest(ws, [FIX / "posts.csv"], progress=False)
    users_a = {u for u, _ in stored_ids(a)}
    users_b = {u for u, _ in stored_ids(b)}
    assert len(users_a) == len(users_b) == 4
    assert users_a.isdisjoint(users_b)
    raw = {f"user{i}" for i in range(4)}
    for u, m in stored_ids(a) + stored_ids(b):
        assert HEX32.fullmatch(u) and HEX32.fullmatch(m)
        assert u not in raw and not m.startswith("m")
    # The same key gives the same pseudonym: it is a function of (key, raw id) only.
    assert users_a == {a.pseudonymizer("user")(r) for r in raw}


@pytest.mark.parametrize("keep", [False, True])
def test_raw_ids_are_stored_only_in_raw_ids_and_only_on_request(tmp_path, keep):
    ws = Workspace.create(tmp_path / "s")
    ingest(ws, [FIX / "posts.csv"], keep_raw_ids=keep, progress=False)
    with ws.connect(read_only=True) as con:
        raw = dict(con.execute("SELECT raw_user_id, user_id FROM raw_ids").fetchall())
        hits = con.execute(
            "SELECT count(*) FROM messages WHERE user_id LIKE 'user%' OR message_id LIKE 'm%' "
            "OR source LIKE 'user%'"
        ).fetchall()
    assert hits == [(0,)]
    if keep:
        assert sorted(raw) == ["user0", "user1", "user2", "user3"]
        assert raw["user0"] == ws.pseudonymizer("user")("user0")
    else:
        assert raw == {}


def test_language_filter_counts_other_languages(tmp_path):
    ws = Workspace.create(tmp_path / "s")
    rep = ingest(ws, [FIX / "posts.jsonl"], language="en", progress=False)
    assert rep.files[0].counts == {
        "stored": 15, "other_language": 3, "bad_json": 2, "wrong_type": 3,
        "no_text": 1, "no_user": 1, "bad_time": 1,
    }
    with ws.connect(read_only=True) as con:
        assert con.execute("SELECT lang, count(*) FROM messages GROUP BY lang").fetchall() == [("en", 15)]


def test_languages_are_detected_without_filter(tmp_path):
    ws = Workspace.create(tmp_path / "s")
    ingest(ws, [FIX / "posts.jsonl"], progress=False)
    with ws.connect(read_only=True) as con:
        langs = dict(con.execute("SELECT lang, count(*) FROM messages GROUP BY lang").fetchall())
    assert langs == {"en": 15, "de": 1, "fr": 1, "es": 1}


def test_several_files_in_one_run(tmp_path):
    ws = Workspace.create(tmp_path / "s")
    rep = ingest(ws, [FIX / "posts.tsv", FIX / "mastodon"], progress=False)
    assert [f.format for f in rep.files] == ["tsv", "mastodon"]
    assert rep.rows_stored == 9 + 7
    assert rep.rows_read == 10 + 12


def test_a_file_that_breaks_midway_leaves_nothing_behind(tmp_path):
    import json

    import zstandard

    lines = "".join(
        json.dumps({"user_id": f"u{i % 500}", "text": f"hello there friend number {i}"}) + "\n"
        for i in range(30_000)
    ).encode()
    packed = zstandard.ZstdCompressor().compress(lines)
    path = tmp_path / "cut.jsonl.zst"
    path.write_bytes(packed[: len(packed) * 3 // 4])  # a download cut short
    ws = Workspace.create(tmp_path / "s")
    ok = ingest(ws, [FIX / "posts.csv"], progress=False)
    with pytest.raises(Exception, match="cut.jsonl.zst"):
        ingest(ws, [path], chunk_rows=2_000, progress=False)
    with ws.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM messages").fetchall() == [(ok.rows_stored,)]
        assert con.execute("SELECT status FROM ingest_runs ORDER BY run_id").fetchall() == [("done",), ("failed",)]
