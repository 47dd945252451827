"""Every input format, read from a small real file through the ingest pipeline.

The fixtures are written by ``tests/fixtures/io/make_fixtures.py``; the comments there
say which record is broken in which way, which is where the expected counts come from.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import random
import re
import tarfile
import tracemalloc
import zipfile
from pathlib import Path

import pytest
import zstandard

from psyprofile.errors import InputError
from psyprofile.io.base import ColumnMap, FileInfo
from psyprofile.io.formats import detect_format
from psyprofile.io.ingest import ingest
from psyprofile.io.jsonl import iter_array, read_jsonl
from psyprofile.io.mastodon import html_to_text, is_direct
from psyprofile.io.x_archive import tweet_files
from psyprofile.store.workspace import Workspace

FIX = Path(__file__).parent / "fixtures" / "io"
UTC = dt.UTC


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path / "study")


def run(ws: Workspace, path: Path, **kw):
    """Ingest ``path``; check that ingest_log holds exactly the report's counts."""
    report = ingest(ws, [path], progress=False, **kw)
    with ws.connect(read_only=True) as con:
        logged = dict(con.execute(
            "SELECT reason, count FROM ingest_log WHERE run_id = ?", [report.run_id]
        ).fetchall())
    assert logged == dict(report.files[0].counts)
    return report


def reader_notes(report) -> list[str]:
    """The notes of the report's first file, without the pipeline's language summary."""
    return [n for n in report.files[0].notes if not n.startswith("language of")]


def posts(ws: Workspace, where: str = "TRUE") -> list[tuple]:
    with ws.connect(read_only=True) as con:
        return con.execute(f"SELECT text, created_at FROM messages WHERE {where} ORDER BY created_at, text").fetchall()


def texts(ws: Workspace) -> set[str]:
    return {t for t, _ in posts(ws)}


def users(ws: Workspace) -> int:
    with ws.connect(read_only=True) as con:
        return con.execute("SELECT count(DISTINCT user_id) FROM messages").fetchall()[0][0]


# --- tabular -------------------------------------------------------------------------


def test_csv_with_bom_counts_every_broken_row(ws):
    rep = run(ws, FIX / "posts.csv")
    assert rep.files[0].format == "csv"
    assert rep.files[0].counts == {
        "stored": 20, "no_text": 2, "no_user": 1, "bad_time": 1, "bad_row": 1, "duplicate": 1,
    }
    assert reader_notes(rep) == []  # a BOM is UTF-8, not an encoding fallback
    assert users(ws) == 4
    # The BOM must not stick to the first column name (else message_id is not found and
    # every post gets a content id; 20 posts would still be stored, so check the id).
    with ws.connect(read_only=True) as con:
        (ids,) = con.execute("SELECT count(DISTINCT message_id) FROM messages").fetchall()[0:1]
    assert ids == (20,)
    first = posts(ws)[0]
    assert first[0].startswith("I spent the morning reading a novel")
    assert first[1] == dt.datetime(2021, 3, 1, 8, 15)


def test_cp1252_csv_is_read_as_cp1252_with_a_note(ws):
    rep = run(ws, FIX / "cp1252.csv")
    assert rep.files[0].counts == {"stored": 5}
    [note] = reader_notes(rep)
    assert "read as cp1252" in note and "line 2" in note
    assert all(t.startswith("café – naïve résumé, post ") for t in texts(ws))
    with ws.connect(read_only=True) as con:
        logged = con.execute("SELECT note FROM ingest_notes").fetchall()
    assert (note,) in logged


def test_tsv_with_group_column(ws):
    rep = run(ws, FIX / "posts.tsv", columns=ColumnMap(groups=("region",)))
    assert rep.files[0].format == "tsv"
    assert rep.files[0].counts == {"stored": 9, "no_text": 1}
    with ws.connect(read_only=True) as con:
        regions = dict(con.execute("SELECT region, count(*) FROM messages GROUP BY region").fetchall())
        first = con.execute("SELECT min(created_at) FROM messages").fetchall()[0][0]
    assert regions == {"north": 5, "south": 4}
    assert first == dt.datetime(2020, 9, 13, 12, 26, 40)  # epoch 1600000000


def test_parquet_with_integer_user_ids(ws):
    rep = run(ws, FIX / "posts.parquet", keep_raw_ids=True)
    assert rep.files[0].format == "parquet"
    assert rep.files[0].counts == {"stored": 10, "no_text": 1, "no_user": 1}
    with ws.connect(read_only=True) as con:
        raw = sorted(r for (r,) in con.execute("SELECT raw_user_id FROM raw_ids").fetchall())
    assert raw == ["1000", "1001", "1002"]


def test_gzipped_csv_is_not_mistaken_for_latin1(ws, tmp_path):
    gz = tmp_path / "posts.csv.gz"
    gz.write_bytes(gzip.compress((FIX / "cp1252.csv").read_bytes().decode("cp1252").encode()))
    rep = run(ws, gz)
    assert rep.files[0].format == "csv"
    assert rep.files[0].counts == {"stored": 5}
    assert reader_notes(rep) == []
    assert all(t.startswith("café – naïve") for t in texts(ws))


def test_file_without_needed_columns_names_them_and_the_options(ws):
    with pytest.raises(InputError) as err:
        ingest(ws, [FIX / "no_columns.csv"], progress=False)
    msg = str(err.value)
    assert "no_columns.csv: no text or user column found" in msg
    assert "Columns found: foo, bar." in msg
    assert "--text-col NAME and --user-col NAME" in msg


# --- JSON lines ----------------------------------------------------------------------

JSONL_COUNTS = {"stored": 18, "bad_json": 2, "wrong_type": 3, "no_text": 1, "no_user": 1, "bad_time": 1}


@pytest.mark.parametrize("name", ["posts.jsonl", "posts.jsonl.gz", "posts.jsonl.zst"])
def test_jsonl_plain_and_compressed(ws, name):
    rep = run(ws, FIX / name)
    assert rep.files[0].format == "jsonl"
    assert rep.files[0].counts == JSONL_COUNTS
    ex = rep.files[0].examples
    # Rows are line numbers: line 19 is blank, so the broken lines are 20 and 21.
    assert [r.row for r in ex["bad_json"]] == [20, 21]
    assert [r.detail for r in ex["wrong_type"]] == [
        "'text' is a number, not text", "'text' is an object, not text", "the record is a list, not an object",
    ]
    assert [r.row for r in ex["bad_time"]] == [27]
    assert users(ws) == 3


def test_jsonl_in_small_chunks_gives_the_same_counts(ws):
    rep = run(ws, FIX / "posts.jsonl", chunk_rows=4)
    assert rep.files[0].counts == JSONL_COUNTS


def test_tweets_as_json_lines_find_the_nested_user(ws):
    rep = run(ws, FIX / "tweets.ndjson", keep_raw_ids=True)
    assert rep.files[0].counts == {"stored": 6}
    with ws.connect(read_only=True) as con:
        raw = sorted(r for (r,) in con.execute("SELECT raw_user_id FROM raw_ids").fetchall())
    assert raw == ["900", "901"]
    assert {t for _, t in posts(ws)} == {dt.datetime(2018, 10, 10, 20, 19, 24)}


def test_jsonl_named_and_group_columns(ws, tmp_path):
    rep = run(ws, FIX / "tweets.ndjson",
              columns=ColumnMap(user="user.screen_name", groups=("user.id_str",)), keep_raw_ids=True)
    assert rep.files[0].counts == {"stored": 6}
    with ws.connect(read_only=True) as con:
        raw = sorted(r for (r,) in con.execute("SELECT raw_user_id FROM raw_ids").fetchall())
        groups = sorted(g for (g,) in con.execute('SELECT DISTINCT "user.id_str" FROM messages').fetchall())
    assert raw == ["name0", "name1"]
    assert groups == ["900", "901"]


def test_jsonl_without_needed_keys(ws, tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_text('{"a": 1, "b": {"c": 2}}\n')
    with pytest.raises(InputError, match=r"Columns found: a, b\.c\. Name the right columns with "
                                         r"--text-col NAME and --user-col NAME"):
        ingest(ws, [p], progress=False)


def test_json_array_file_is_read_element_by_element(ws, tmp_path):
    p = tmp_path / "export.json"
    p.write_text(json.dumps([{"user": "a", "text": "first post of the array"},
                             {"user": "b", "text": "second post of the array"}, "oops"]))
    rep = run(ws, p)
    assert rep.files[0].counts == {"stored": 2, "wrong_type": 1}


@pytest.mark.parametrize("suffix", [".zst", ".gz"])
def test_truncated_compressed_file_is_a_clear_error(ws, tmp_path, suffix):
    # zstd's own stream reader ends quietly inside a cut frame; ours must not.
    data = (FIX / "posts.jsonl").read_bytes() * 50
    packed = zstandard.ZstdCompressor().compress(data) if suffix == ".zst" else gzip.compress(data)
    p = tmp_path / f"cut.jsonl{suffix}"
    p.write_bytes(packed[:-200])
    with pytest.raises(InputError, match=r"the compressed data is broken after [\d,]+ bytes .*Stopped after record"):
        ingest(ws, [p], progress=False)
    with ws.connect(read_only=True) as con:  # nothing of the failed file is kept
        assert con.execute("SELECT count(*) FROM messages").fetchall() == [(0,)]


def test_jsonl_reader_memory_does_not_grow_with_the_file(tmp_path):
    rng = random.Random(0)
    words = [f"w{i}" for i in range(2000)]
    data = "".join(
        json.dumps({"user": f"u{i % 50}", "text": " ".join(rng.choices(words, k=70))}) + "\n"
        for i in range(15000)
    ).encode()
    p = tmp_path / "big.jsonl.zst"
    p.write_bytes(zstandard.ZstdCompressor().compress(data))
    tracemalloc.start()
    try:
        n = sum(c.table.num_rows for c in read_jsonl(p, ColumnMap(), FileInfo("jsonl"), 500))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert n == 15000
    assert peak < len(data) / 1.5, (peak, len(data))


def test_jsonl_reader_streams_in_chunks(tmp_path):
    p = tmp_path / "many.jsonl"
    p.write_text("".join(json.dumps({"user": f"u{i % 7}", "text": f"post {i}"}) + "\n" for i in range(2500)))
    chunks = list(read_jsonl(p, ColumnMap(), FileInfo("jsonl"), chunk_rows=1000))
    assert [c.table.num_rows for c in chunks] == [1000, 1000, 500]
    assert chunks[2].table["row"].to_pylist()[-1] == 2500


# --- Reddit --------------------------------------------------------------------------

REDDIT_COUNTS = {"stored": 16, "deleted_user": 2, "deleted_text": 2, "bad_json": 1, "no_text": 1, "bad_time": 1}


@pytest.mark.parametrize("name", ["reddit.ndjson", "RC_2017-07.zst"])
def test_reddit_comments_and_submissions(ws, name):
    rep = run(ws, FIX / name)
    assert rep.files[0].format == "reddit"
    assert rep.files[0].counts == REDDIT_COUNTS
    with ws.connect(read_only=True) as con:
        subs = dict(con.execute("SELECT subreddit, count(*) FROM messages GROUP BY subreddit").fetchall())
        by_time = dict(con.execute("SELECT created_at, text FROM messages").fetchall())
    assert subs == {"AskReddit": 5, "books": 9, "pics": 2}
    # created_utc as a number and as a string
    assert by_time[dt.datetime(2017, 7, 14, 2, 40)].startswith("I spent the morning")
    assert dt.datetime(2017, 7, 14, 2, 49) in by_time
    sub = by_time[dt.datetime.fromtimestamp(1500100000, UTC).replace(tzinfo=None)]
    assert sub.startswith("Question number 0 for you all\n\nI spent the")
    assert by_time[dt.datetime.fromtimestamp(1500200000, UTC).replace(tzinfo=None)] == "A link post with only a title here"
    assert by_time[dt.datetime.fromtimestamp(1500200001, UTC).replace(tzinfo=None)] == "Removed body but the title stays"


def test_pushshift_long_window_needs_the_raised_limit():
    # The fixture's frame asks for a 1 GiB window; zstd's default limit (128 MiB) refuses it.
    with open(FIX / "RC_2017-07.zst", "rb") as fh, pytest.raises(zstandard.ZstdError):
        zstandard.ZstdDecompressor().stream_reader(fh).read()


def test_reddit_refuses_column_options(ws):
    with pytest.raises(InputError, match="--text-col cannot be used with the reddit format"):
        ingest(ws, [FIX / "reddit.ndjson"], columns=ColumnMap(text="body"), progress=False)


# --- X archive -----------------------------------------------------------------------

X_COUNTS = {"stored": 10, "not_a_post": 2, "no_text": 1, "bad_time": 1, "wrong_type": 1}


@pytest.mark.parametrize("name", ["x_archive", "x_archive.zip"])
def test_x_archive_folder_and_zip(ws, name):
    rep = run(ws, FIX / name, keep_raw_ids=True)
    assert rep.files[0].format == "x-archive"
    assert rep.files[0].counts == X_COUNTS
    with ws.connect(read_only=True) as con:
        assert con.execute("SELECT raw_user_id FROM raw_ids").fetchall() == [("783214",)]
    found = posts(ws)
    assert found[0][1] == dt.datetime(2018, 10, 10, 20, 19, 24)
    assert "Fish & chips <3 are the best thing about the seaside in summer" in texts(ws)


def test_x_archive_older_name_and_broken_array(ws, tmp_path):
    data = tmp_path / "archive" / "data"
    data.mkdir(parents=True)
    (data / "account.js").write_text('window.YTD.account.part0 = [{"account": {"accountId": "7"}}]')
    good = json.dumps({"tweet": {"id_str": "1", "full_text": "a perfectly fine tweet",
                                 "created_at": "Wed Oct 10 20:19:24 +0000 2018"}})
    (data / "tweet.js").write_text(f"window.YTD.tweet.part0 = [{good}, {good[:-20]}")
    rep = run(ws, tmp_path / "archive")
    assert rep.files[0].counts == {"stored": 1, "bad_json": 1}
    assert "data/tweet.js is broken after tweet 1" in rep.files[0].notes[0]


def test_x_archive_tweet_files_in_part_order():
    names = ["data/tweets-part2.js", "data/account.js", "data/tweets-part10.js", "data/tweets.js",
             "data/tweets-part1.js", "data/deleted-tweets.js", "Your archive.html"]
    assert tweet_files(names) == ["data/tweets.js", "data/tweets-part1.js", "data/tweets-part2.js",
                                  "data/tweets-part10.js"]


def test_x_archive_without_account_file(ws, tmp_path):
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        zf.writestr("data/tweets.js", "window.YTD.tweets.part0 = []")
    with pytest.raises(InputError, match="data/account.js not found"):
        ingest(ws, [tmp_path / "a.zip"], progress=False)


# --- Mastodon ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mastodon", "mastodon/outbox.json"])
def test_mastodon_outbox(ws, name):
    rep = run(ws, FIX / name)
    assert rep.files[0].format == "mastodon"
    assert rep.files[0].counts == {"stored": 7, "not_a_post": 2, "no_text": 1, "bad_time": 1,
                                   "direct_message": 1}
    assert [r.detail for r in rep.files[0].examples["not_a_post"]] == ["a boost of another post"] * 2
    assert "Hello & welcome to my page\nsecond line here\n\nA new paragraph about gardening." in texts(ws)
    assert users(ws) == 1


def test_mastodon_export_as_tar_gz(ws, tmp_path):
    p = tmp_path / "archive-20240101.tar.gz"
    with tarfile.open(p, "w:gz") as tf:
        tf.add(FIX / "mastodon" / "outbox.json", arcname="outbox.json")
    assert detect_format(p) == "mastodon"
    assert run(ws, p).files[0].counts == {"stored": 7, "not_a_post": 2, "no_text": 1, "bad_time": 1,
                                          "direct_message": 1}


def test_direct_message_detection():
    public, followers = "https://www.w3.org/ns/activitystreams#Public", "https://s.example/u/a/followers"
    assert is_direct({"to": ["https://s.example/u/b"], "cc": []}, {})
    assert is_direct({}, {"to": "https://s.example/u/b"})
    assert not is_direct({"to": ["https://s.example/u/b"]}, {"cc": [public]})
    assert not is_direct({"to": [followers]}, {})
    assert not is_direct({}, {})  # no addressing: taken as a post


def test_html_to_text():
    assert html_to_text("<p>a &lt;b&gt; &#x27;c&#x27;<br/>d</p><p>e</p>") == "a <b> 'c'\nd\n\ne"
    assert html_to_text('<p><a href="u"><span class="invisible">https://</span>x.org</a></p>') == "https://x.org"


# --- detection and streaming helpers -------------------------------------------------


@pytest.mark.parametrize(("name", "fmt"), [
    ("posts.csv", "csv"), ("posts.tsv", "tsv"), ("posts.parquet", "parquet"),
    ("posts.jsonl", "jsonl"), ("posts.jsonl.gz", "jsonl"), ("posts.jsonl.zst", "jsonl"),
    ("tweets.ndjson", "jsonl"), ("reddit.ndjson", "reddit"), ("RC_2017-07.zst", "reddit"),
    ("x_archive", "x-archive"), ("x_archive.zip", "x-archive"),
    ("mastodon", "mastodon"), ("mastodon/outbox.json", "mastodon"),
])
def test_detect_format(name, fmt):
    assert detect_format(FIX / name) == fmt


@pytest.mark.parametrize(("src", "fmt"), [
    ("posts.parquet", "parquet"), ("posts.jsonl", "jsonl"), ("reddit.ndjson", "reddit"),
    ("posts.csv", "csv"), ("mastodon/outbox.json", "mastodon"), ("x_archive.zip", "x-archive"),
])
def test_detect_format_by_content_without_a_telling_name(tmp_path, src, fmt):
    p = tmp_path / "download"
    p.write_bytes((FIX / src).read_bytes())
    assert detect_format(p) == fmt


def test_detect_reddit_after_a_broken_first_line(tmp_path):
    p = tmp_path / "dump.ndjson"
    p.write_text('{"author": "a", "bo\n' + (FIX / "reddit.ndjson").read_text())
    assert detect_format(p) == "reddit"


def test_detect_format_of_unknown_folder(tmp_path):
    with pytest.raises(InputError, match="no X archive"):
        detect_format(tmp_path)


def test_iter_array_reads_across_small_blocks():
    items = [{"k": i, "s": "x" * (i * 7)} for i in range(50)]
    text = "var = " + json.dumps(items)
    got = list(iter_array(io.StringIO(text), re.compile(r"=\s*\["), block=16))
    assert [v for _, v in got] == items
    assert [i for i, _ in got] == list(range(1, 51))
