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
    with ws.connect(read_only=True) as con:  # the report's Methods cite these
        formats = con.execute("SELECT file, format FROM ingest_files WHERE run_id = ?",
                              [rep.run_id]).fetchall()
    assert sorted(formats) == sorted((f.file, f.format) for f in rep.files)


def test_a_run_failing_on_a_later_file_keeps_no_row_of_the_earlier_ones(tmp_path):
    """Stored whole or not at all: the rows each file read before the failing one left in the
    per-run tables (log, rejects, notes, formats) go with its posts."""
    from psyprofile.errors import InputError

    ws = Workspace.create(tmp_path / "s")
    bad = tmp_path / "result.json"
    bad.write_text('{"name": "x"}')  # no user or text field: refused after posts.tsv was logged
    with pytest.raises(InputError, match="result.json"):
        ingest(ws, [FIX / "posts.tsv", bad], progress=False)
    with ws.connect(read_only=True) as con:
        for table in ("messages", "ingest_log", "ingest_rejects", "ingest_notes", "ingest_files"):
            assert con.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table


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


# --- a run is stored whole or not at all ----------------------------------------------------

KILL_ROWS = 24_000
KILL_DUPLICATES = KILL_ROWS // 100  # every 100th line repeats the line before it
KILL_NO_TEXT = KILL_ROWS // 250


def _kill_input(path: Path) -> Path:
    import json

    with open(path, "w") as fh:
        prev = None
        for i in range(KILL_ROWS):
            if i % 100 == 99:
                line = prev
            else:
                text = "" if i % 250 == 7 else f"post number {i} about the weather and things"
                line = json.dumps({"user_id": f"u{i % 300}", "text": text,
                                   "created_at": f"2020-01-{1 + i % 28:02d}T10:{i % 60:02d}:00"})
            fh.write(line + "\n")
            prev = line
    return path


def _clean_counts() -> dict[str, int]:
    return {"stored": KILL_ROWS - KILL_DUPLICATES - KILL_NO_TEXT, "duplicate": KILL_DUPLICATES,
            "no_text": KILL_NO_TEXT}


def _ingest_until_committed(study: Path, data: Path, sig: int):
    """Start `psyprofile ingest` in a real subprocess and send ``sig`` once some batches are
    committed (the write-ahead log has grown past a few batches)."""
    import subprocess
    import sys
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "psyprofile.cli.main", "ingest", str(study), str(data), "--quiet",
         "--partition-rows", "1000", "--engine", "local", "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wal = study / "study.duckdb.wal"
    deadline = time.monotonic() + 120
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if wal.exists() and wal.stat().st_size > 600_000:  # about three batches of 1,000
                proc.send_signal(sig)
                break
            time.sleep(0.05)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, err.decode()


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM"])
def test_a_killed_run_is_rolled_back_and_a_rerun_counts_like_one_clean_run(tmp_path, sig):
    import signal

    data = _kill_input(tmp_path / "big.jsonl")
    study = tmp_path / "s"
    Workspace.create(study)
    code, err = _ingest_until_committed(study, data, getattr(signal, sig))
    assert code != 0, f"the ingest finished before it could be killed; make the input bigger: {err}"
    if sig == "SIGTERM":  # caught: the run rolls itself back on the way out
        assert "Traceback" not in err and "ingest stopped by SIGTERM" in err, err
    ws = Workspace.open(study)
    with ws.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM messages").fetchall() == [(0,)]
        status = con.execute("SELECT status, rows_stored FROM ingest_runs").fetchall()
        assert con.execute("SELECT count(*) FROM ingest_log").fetchall() == [(0,)]
    if sig == "SIGKILL":
        assert status == [("interrupted", 0)]
        assert len(ws.notices) == 1 and "rolled back its" in ws.notices[0]
        assert not re.search(r"rolled back its 0 posts", ws.notices[0]), "killed before any commit"
    else:
        assert status == [("failed", 0)]
    # nothing phantom: the re-run stores what one clean run stores
    rep = ingest(ws, [data], chunk_rows=5_000, progress=False)
    assert dict(rep.files[0].counts) == _clean_counts()
    with ws.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM messages").fetchall() == [(_clean_counts()["stored"],)]
    assert Workspace.open(study).notices == []  # rolled back once, then done


def test_a_run_this_process_is_writing_is_not_rolled_back_by_another_open(tmp_path):
    ws = Workspace.create(tmp_path / "s")
    with ws.connect() as con:
        con.execute("INSERT INTO ingest_runs (run_id, started_at, status) VALUES (7, now(), 'running')")
    with ws.active_run(7):
        assert Workspace.open(ws.path).notices == []
    assert "ingest run 7 was interrupted" in Workspace.open(ws.path).notices[0]


# --- leaks -------------------------------------------------------------------------------------


def _runs(ws: Workspace) -> int:
    with ws.connect(read_only=True) as con:
        return con.execute("SELECT count(*) FROM ingest_runs").fetchall()[0][0]


@pytest.mark.parametrize("col", ["author", "screen_name", "in_reply_to_screen_name", "user_id",
                                 "user.id", "Author_ID", "handle", "permalink"])
def test_a_group_column_holding_ids_or_handles_is_refused(tmp_path, col):
    from psyprofile.errors import InputError
    from psyprofile.io.base import ColumnMap

    ws = Workspace.create(tmp_path / "s")
    with pytest.raises(InputError, match="looks like a user id, handle or name field.*--keep-raw-ids"):
        ingest(ws, [FIX / "posts.csv"], columns=ColumnMap(groups=(col,)), progress=False)
    assert _runs(ws) == 0  # refused before any work


def test_the_user_column_as_group_column_is_refused_but_allowed_with_raw_ids(tmp_path):
    import csv

    from psyprofile.errors import InputError
    from psyprofile.io.base import ColumnMap

    path = tmp_path / "p.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["who", "text", "author"])
        w.writerows([["u1", "hello there", "@raw_handle"], ["u2", "good day", "@other"]])
    ws = Workspace.create(tmp_path / "s")
    with pytest.raises(InputError, match="is the user column"):
        ingest(ws, [path], columns=ColumnMap(user="who", groups=("who",)), progress=False)
    with pytest.raises(InputError, match="looks like a user id"):
        ingest(ws, [path], columns=ColumnMap(user="who", groups=("author",)), progress=False)
    rep = ingest(ws, [path], columns=ColumnMap(user="who", groups=("author",)), keep_raw_ids=True,
                 progress=False)
    assert rep.rows_stored == 2  # on purpose, with raw ids kept


@pytest.mark.parametrize("col", ["text", "TEXT", "user", "lang", "source", "audience"])
def test_a_group_column_that_is_a_post_field_is_refused_clearly(tmp_path, col):
    from psyprofile.errors import InputError
    from psyprofile.io.base import ColumnMap

    ws = Workspace.create(tmp_path / "s")
    with pytest.raises(InputError, match=r"--group-col .* (is one of the columns every post has|"
                                         r"looks like a user id)"):
        ingest(ws, [FIX / "posts.csv"], columns=ColumnMap(groups=(col,)), keep_raw_ids=True,
               progress=False)
    assert _runs(ws) == 0


def _all_text(ws: Workspace) -> str:
    """Every value of every table of the study, as one string."""
    out = []
    with ws.connect(read_only=True) as con:
        for (t,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
            out.append(str(con.execute(f'SELECT * FROM "{t}"').fetchall()))
    return "\n".join(out)


def test_file_and_folder_names_are_never_stored_or_shown(tmp_path):
    import shutil

    folder = tmp_path / "Anna Smith donation"
    folder.mkdir()
    path = folder / "anna_smith_posts.csv"
    shutil.copy(FIX / "posts.csv", path)
    ws = Workspace.create(tmp_path / "s")
    rep = ingest(ws, [path], progress=False)
    again = ingest(ws, [path], progress=False)
    assert rep.files[0].file == again.files[0].file  # the same label for the same file
    assert re.fullmatch(r"file-[0-9a-f]{12}", rep.files[0].file)
    labelled = ingest(ws, [FIX / "posts.tsv"], source_labels=["wave2"], progress=False)
    stored = _all_text(ws).lower()
    shown = (rep.summary() + again.summary() + labelled.summary()).lower()
    for text in (stored, shown):
        assert "anna" not in text and "smith" not in text and "posts.tsv" not in text
    with ws.connect(read_only=True) as con:
        sources = {s for (s,) in con.execute("SELECT DISTINCT source FROM messages").fetchall()}
    assert sources == {rep.files[0].file, "wave2"}


def test_a_source_label_must_not_be_a_path_or_blank(tmp_path):
    from psyprofile.errors import InputError

    ws = Workspace.create(tmp_path / "s")
    for bad in ["", "../x", "a b", "x" * 65]:
        with pytest.raises(InputError, match="--source-label"):
            ingest(ws, [FIX / "posts.csv"], source_labels=[bad], progress=False)


def test_file_names_stored_by_an_earlier_build_are_hashed_on_open(study_at_schema):
    ws, con = study_at_schema(2, "s")
    con.execute("INSERT INTO messages (message_id, post_key, user_id, text, source, run_id) "
                "VALUES ('m', 'k', 'u', 'hi', 'anna_smith.csv', 1)")
    con.execute("INSERT INTO ingest_runs VALUES (1, now(), now(), ['/home/x/anna_smith.csv'], "
                "'{}', 1, 1, 'done')")
    con.execute("INSERT INTO ingest_log VALUES (1, 'anna_smith.csv', 'stored', 1)")
    con.close()
    assert "anna" not in _all_text(Workspace.open(ws.path)).lower()


def test_options_are_refused_before_any_work(tmp_path):
    from click.testing import CliRunner

    from psyprofile.cli.main import cli
    from psyprofile.errors import InputError

    ws = Workspace.create(tmp_path / "s")
    for kwargs, msg in [({"fmt": "telegram-nope"}, "unknown format"),
                        ({"language": "english"}, "--language"),
                        ({"donor_id": "d1", "fmt": "csv"}, "many authors")]:
        with pytest.raises(InputError, match=msg):
            ingest(ws, [FIX / "posts.csv"], progress=False, **kwargs)
    assert _runs(ws) == 0
    res = CliRunner().invoke(cli, ["ingest", str(ws.path), str(FIX / "posts.csv"),
                                   "--format", "telegram-nope"])
    assert res.exit_code == 2 and "unknown format" in res.output
    assert "rows/s" not in res.output and "ingest:" not in res.output  # no progress bar
    assert _runs(ws) == 0


def test_now_style_times_are_not_stored_again_on_reingest(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("user_id,text,created_at\n"
                    "u1,first post here,now\nu2,second post here,today\n"
                    "u3,third post here,2021-01-01T00:00:00\n")
    ws = Workspace.create(tmp_path / "s")
    first = ingest(ws, [path], progress=False)
    second = ingest(ws, [path], progress=False)
    assert first.files[0].counts == {"stored": 1, "bad_time": 2}
    assert second.files[0].counts == {"duplicate": 1, "bad_time": 2}


# --- the study key -------------------------------------------------------------------------------


def test_a_replaced_key_is_refused_and_does_not_split_users(tmp_path):
    from psyprofile.errors import WorkspaceError
    from psyprofile.privacy.pseudonym import new_key

    ws = Workspace.create(tmp_path / "s")
    ingest(ws, [FIX / "posts.csv"], progress=False)
    original = ws.key_path.read_text()
    ws.key_path.write_text(new_key().hex() + "\n")
    with pytest.raises(WorkspaceError, match="not the key this study was built with"):
        Workspace.open(ws.path)
    with pytest.raises(WorkspaceError, match="not the key this study was built with"):
        ingest(ws, [FIX / "posts.csv"], progress=False)  # also through an already open study
    ws.key_path.write_text(original)
    ingest(Workspace.open(ws.path), [FIX / "posts.csv"], progress=False)
    with ws.connect(read_only=True) as con:
        assert con.execute("SELECT count(DISTINCT user_id) FROM messages").fetchall() == [(4,)]
    assert "secret.key" not in _all_text(ws) and original.strip() not in _all_text(ws)


def test_a_key_others_can_read_is_noted_and_the_database_is_private(tmp_path):
    import os
    import stat

    ws = Workspace.create(tmp_path / "s")
    assert stat.S_IMODE(ws.db_path.stat().st_mode) == 0o600
    assert Workspace.open(ws.path).notices == []
    os.chmod(ws.key_path, 0o644)
    notices = Workspace.open(ws.path).notices
    assert len(notices) == 1 and "can be read by other users" in notices[0]
    assert "chmod 600" in notices[0]


# --- donors, languages, audiences ------------------------------------------------------------


def _chunk(**cols):
    import datetime as dt

    import pyarrow as pa

    from psyprofile.io.base import POST_SCHEMA, Chunk

    n = len(cols["text"])
    base = {"row": list(range(1, n + 1)), "id": [None] * n, "user": ["u1"] * n,
            "time": [dt.datetime(2021, 1, 1, tzinfo=dt.UTC)] * n}
    fields = list(POST_SCHEMA) + [pa.field(k, pa.string()) for k in cols if k not in POST_SCHEMA.names]
    data = {**base, **cols}
    return Chunk(pa.table({f.name: pa.array(data[f.name], f.type) for f in fields}))


def test_the_platform_language_tag_wins_and_detection_ignores_mentions_and_links():
    from psyprofile.io.ingest import FileReport, _prepare
    from psyprofile.privacy.pseudonym import Pseudonymizer

    texts = ["@anna @bob_2 https://t.co/xyz ok",  # no language left once handles go: und
             "@ivan @olga http://x.ru thanks so much for the lovely evening yesterday",
             "Das ist ein schöner Tag, wir gehen heute in den Park.",
             "Das ist ein schöner Tag, wir gehen heute in den Park.",
             "short"]
    chunk = _chunk(text=texts, lang=[None, None, None, "en-GB", "zxx"])
    rep = FileReport("f", "x")
    p = Pseudonymizer(b"k" * 32)
    table, groups = _prepare(chunk, "f", p, p, None, 1000, rep)
    assert table["lang"].to_pylist() == ["und", "en", "de", "en", "und"]
    assert groups == []
    assert rep.languages == {"platform": 2, "detected": 2, "und": 1}


def test_followers_only_posts_are_counted_and_left_out_with_public_only():
    from psyprofile.io.ingest import FileReport, _prepare
    from psyprofile.privacy.pseudonym import Pseudonymizer

    chunk = _chunk(text=["one public post", "one for followers", "another public one"],
                   audience=["public", "followers", None])
    p = Pseudonymizer(b"k" * 32)
    kept, _ = _prepare(chunk, "f", p, p, None, 1000, FileReport("f", "x"))
    assert kept["audience"].to_pylist() == [None, "followers", None]
    rep = FileReport("f", "x")
    public, _ = _prepare(chunk, "f", p, p, None, 1000, rep, public_only=True)
    assert public["text"].to_pylist() == ["one public post", "another public one"]
    assert rep.counts == {"followers_only": 1}


def _bare_tweets_js(path: Path) -> Path:
    import json

    tweets = [
        {"tweet": {"id_str": "101", "full_text": "@someone thanks, see you at the match tonight",
                   "created_at": "Mon Mar 01 10:00:00 +0000 2021", "lang": "en"}},
        {"tweet": {"id_str": "102", "full_text": "@a @b https://t.co/x",  # X says und
                   "created_at": "Mon Mar 01 11:00:00 +0000 2021", "lang": "und"}},
        {"tweet": {"id_str": "103", "full_text": "Guten Morgen zusammen, heute wird es sonnig",
                   "created_at": "Mon Mar 01 12:00:00 +0000 2021", "lang": "de"}},
    ]
    path.write_text("window.YTD.tweets.part0 = " + json.dumps(tweets, indent=1))
    return path


def test_donor_id_names_the_author_of_a_bare_single_person_export(tmp_path):
    from psyprofile.errors import InputError

    tweets = _bare_tweets_js(tmp_path / "tweets.js")
    ws = Workspace.create(tmp_path / "s")
    with pytest.raises(InputError, match="one person's export without an account id.*--donor-id ID"):
        ingest(ws, [tweets], fmt="x-archive", progress=False)
    with ws.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM messages").fetchall() == [(0,)]
        assert con.execute("SELECT status FROM ingest_runs").fetchall() == [("failed",)]
    rep = ingest(ws, [tweets], fmt="x-archive", donor_id="P017", progress=False)
    assert rep.rows_stored == 3
    with ws.connect(read_only=True) as con:
        rows = con.execute("SELECT DISTINCT user_id FROM messages").fetchall()
        langs = [r[0] for r in con.execute("SELECT lang FROM messages ORDER BY created_at").fetchall()]
    assert rows == [(ws.pseudonymizer("user")("P017"),)]  # pseudonymised like any user id
    assert langs == ["en", "und", "de"]  # the platform's tags
    assert rep.files[0].languages == {"platform": 3}
    assert "P017" not in _all_text(ws)


def test_donor_id_is_refused_for_files_of_many_authors(tmp_path):
    from psyprofile.errors import InputError

    ws = Workspace.create(tmp_path / "s")
    for fmt in ("auto", "csv"):
        with pytest.raises(InputError, match="many authors' posts"):
            ingest(ws, [FIX / "posts.csv"], fmt=fmt, donor_id="P017", progress=False)
    with ws.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM messages").fetchall() == [(0,)]


def _outbox(path: Path) -> Path:
    import json

    actor = "https://example.social/users/donor"
    public = "https://www.w3.org/ns/activitystreams#Public"

    def note(i, to, text, lang="en"):
        return {"type": "Create", "actor": actor, "published": f"2023-05-0{i}T10:00:00Z",
                "to": to, "object": {"id": f"{actor}/statuses/{i}", "type": "Note",
                                     "contentMap": {lang: f"<p>{text}</p>"}}}

    items = [note(1, [public], "a public post about the garden"),
             note(2, [f"{actor}/followers"], "only my followers see this one"),
             note(3, [f"{actor}/followers"], "another post for followers only"),
             note(4, [public], "ein öffentlicher Beitrag", "de")]
    path.write_text(json.dumps({"type": "OrderedCollection", "totalItems": len(items),
                                "orderedItems": items}))
    return path


def test_followers_only_posts_are_counted_in_info_and_left_out_with_public_only(tmp_path):
    from click.testing import CliRunner

    from psyprofile.cli.main import cli
    from psyprofile.store.summary import workspace_summary

    outbox = _outbox(tmp_path / "outbox.json")
    ws = Workspace.create(tmp_path / "s")
    rep = ingest(ws, [outbox], fmt="mastodon", progress=False)
    assert rep.rows_stored == 4 and rep.files[0].followers == 2
    assert "2 of them followers-only" in rep.summary()
    assert workspace_summary(ws)["followers_only"] == 2
    assert workspace_summary(ws)["languages"] == {"en": 3, "de": 1}  # contentMap's tags
    res = CliRunner().invoke(cli, ["info", str(ws.path)])
    assert "followers-only (semi-private) posts: 2 of the 4" in res.output

    ws2 = Workspace.create(tmp_path / "s2")
    rep = ingest(ws2, [outbox], fmt="mastodon", public_only=True, progress=False)
    assert rep.files[0].counts == {"stored": 2, "followers_only": 2}
    assert workspace_summary(ws2)["followers_only"] == 0


def test_reject_details_are_stored_without_control_bytes_or_whole_lines():
    from psyprofile.io.base import Reject
    from psyprofile.io.ingest import FileReport, _prepare
    from psyprofile.privacy.pseudonym import Pseudonymizer

    chunk = _chunk(text=["fine post"])
    chunk.rejects.append(Reject(2, "bad_row", "\x1b[2J" + "x" * 500))
    rep = FileReport("f", "x")
    p = Pseudonymizer(b"k" * 32)
    _prepare(chunk, "f", p, p, None, 1000, rep)
    detail = rep.examples["bad_row"][0].detail
    assert "\x1b" not in detail and detail.startswith("\\x1b[2J") and len(detail) <= 123


@pytest.mark.parametrize("command", [["features", "{study}", "--quiet"], ["info", "{study}"]])
def test_every_command_says_when_opening_rolled_back_an_unfinished_run(tmp_path, command):
    """Writing commands open the study as reading ones do, and show what opening it did."""
    from click.testing import CliRunner

    from psyprofile.cli.main import cli

    study = tmp_path / "s"
    ws = Workspace.create(study)
    with ws.connect() as con:  # as a killed ingest leaves it: a run still 'running'
        con.execute("INSERT INTO ingest_runs (run_id, started_at, files, options, status) "
                    "VALUES (?, now(), ?, '{}', 'running')", [41, ["x.csv"]])
    r = CliRunner().invoke(cli, [a.format(study=study) for a in command])
    assert "note:" in r.stderr and "rolled back" in r.stderr, r.stderr


def test_sigterm_during_a_query_lets_it_finish_and_stops_the_run_at_the_next_check():
    """The handler only records SIGTERM: raising from it interrupted whatever DuckDB ran, and
    an interrupted COMMIT escaped as a bare "Query interrupted" traceback."""
    import os
    import signal

    import duckdb

    from psyprofile.io.ingest import Terminated, _sigterm_stops

    con = duckdb.connect()
    con.execute("SET threads = 1")

    def term(x: int) -> int:  # the signal arrives while DuckDB runs the query
        os.kill(os.getpid(), signal.SIGTERM)
        return x

    con.create_function("term", term)  # BIGINT -> BIGINT, from the annotations
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated, match="run 7 was rolled back"), _sigterm_stops(7) as stop:
        assert con.execute("SELECT term(41) + 1").fetchone()[0] == 42
        assert stop.requested
        stop.check()
    assert signal.getsignal(signal.SIGTERM) is before


SIGTERM_LATE = """
import os, signal, sys
from psyprofile.io.ingest import _sigterm_stops
signal.signal(signal.SIGTERM, lambda s, f: (print("passed on", flush=True), sys.exit(3)))
with _sigterm_stops(1) as stop:
    os.kill(os.getpid(), signal.SIGTERM)  # after the run's last check
    print("recorded" if stop.requested else "lost", flush=True)
    if sys.argv[1] == "twice":
        os.kill(os.getpid(), signal.SIGTERM)
        print("not reached", flush=True)
print("not reached either", flush=True)
"""


@pytest.mark.parametrize("times", ["once", "twice"])
def test_a_sigterm_the_run_does_not_check_is_not_lost(times):
    """A SIGTERM after the run's last check is passed on when it finishes; a second one is
    not held back at all (for a run stuck where it never checks)."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", SIGTERM_LATE, times], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout.split() == ["recorded", "passed", "on"]
