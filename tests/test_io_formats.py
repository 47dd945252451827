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

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from psyprofile.errors import InputError
from psyprofile.io.base import DEFAULT_LIMITS, ColumnMap, FileInfo, Limits, Reject
from psyprofile.io.formats import detect_format, get_reader
from psyprofile.io.ingest import ingest
from psyprofile.io.jsonl import iter_array, read_jsonl
from psyprofile.io.mastodon import html_to_text, is_direct
from psyprofile.io.timeparse import parse_times
from psyprofile.io.x_archive import read_x_archive, tweet_files
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


def test_x_archive_without_account_file_names_no_author(ws, tmp_path):
    tweet = {"tweet": {"id_str": "1", "full_text": "a tweet without its account file", "lang": "en"}}
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        zf.writestr("data/tweets.js", f"window.YTD.tweets.part0 = [{json.dumps(tweet)}]")
    info = FileInfo("x-archive")
    [chunk] = read_x_archive(tmp_path / "a.zip", ColumnMap(), info, 100)
    assert chunk.table["user"].to_pylist() == [None]
    assert info.single_person
    assert any("--donor-id" in n for n in info.notes)


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


# --- hostile and real-world files (issue 16) -----------------------------------------

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


def read_all(path: Path, fmt: str, columns: ColumnMap | None = None, limits: Limits = DEFAULT_LIMITS,
             chunk_rows: int = 1000) -> tuple[pa.Table, list[Reject], FileInfo]:
    """Every chunk a reader yields for ``path``: posts, rejects and what it noted."""
    info = FileInfo(fmt, limits=limits)
    chunks = list(get_reader(fmt)(path, columns or ColumnMap(), info, chunk_rows))
    table = pa.concat_tables([c.table for c in chunks]) if chunks else None
    return table, [r for c in chunks for r in c.rejects], info


def activity(i: int, **obj) -> dict:
    return {"type": "Create", "actor": "https://s.example/users/a", "published": iso_time(i),
            "object": {"id": f"https://s.example/users/a/statuses/{i}", "content": f"<p>post {i} here</p>",
                       "to": [PUBLIC], **obj}}


def iso_time(i: int) -> str:
    return f"2022-05-{1 + i % 28:02d}T10:00:00Z"


def outbox_text(lists: list[list], total: int | None) -> str:
    """An outbox with ``orderedItems`` written once per list (Mastodon 4.3 writes it twice)."""
    head = '{"@context": "https://www.w3.org/ns/activitystreams", "id": "outbox.json", ' \
           '"type": "OrderedCollection"'
    if total is not None:
        head += f', "totalItems": {total}'
    return head + "".join(f', "orderedItems": {json.dumps(items)}' for items in lists) + "}"


def test_mastodon_duplicate_items_key_reads_the_last_list_like_json_load(tmp_path):
    items = [activity(i) for i in range(4)]
    p = tmp_path / "outbox.json"
    p.write_text(outbox_text([[], items], total=4))
    assert len(json.loads(p.read_text())["orderedItems"]) == 4
    table, rejects, info = read_all(p, "mastodon")
    assert table.num_rows == 4 and rejects == []
    assert any("2 \"orderedItems\" lists" in n for n in info.notes)
    assert info.single_person


@pytest.mark.parametrize("lists", [[[]], [[], [activity(0)]], [[activity(0), activity(1)], [activity(2)]]])
def test_mastodon_total_items_disagreeing_with_what_was_read_is_refused(tmp_path, lists):
    p = tmp_path / "outbox.json"
    p.write_text(outbox_text(lists, total=3))
    with pytest.raises(InputError, match=r"holds 3 items \(totalItems\) but \d were found"):
        read_all(p, "mastodon")


def test_mastodon_wrong_types_are_counted_rejects(tmp_path):
    items = [activity(0), activity(1, to=5), activity(2, contentMap=["en"]), 7, {"type": {"x": 1}},
             activity(3, cc=[1, 2])]
    p = tmp_path / "outbox.json"
    p.write_text(outbox_text([items], total=len(items)))
    table, rejects, _ = read_all(p, "mastodon")
    assert table.num_rows == 1
    assert [(r.row, r.reason) for r in rejects] == [
        (2, "wrong_type"), (3, "wrong_type"), (4, "wrong_type"), (5, "not_a_post"), (6, "wrong_type")]
    assert rejects[0].detail == "'to' is a number, not a list of addresses"


def test_mastodon_tar_whose_outbox_is_a_link_is_refused(tmp_path):
    p = tmp_path / "archive.tar.gz"
    with tarfile.open(p, "w:gz") as tf:
        link = tarfile.TarInfo("outbox.json")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tf.addfile(link)
    assert detect_format(p) == "mastodon"
    with pytest.raises(InputError, match="is a link inside the archive; links are not followed"):
        read_all(p, "mastodon")


def test_mastodon_folder_whose_outbox_links_out_is_refused(tmp_path):
    outside = tmp_path / "elsewhere.json"
    outside.write_text(outbox_text([[activity(0)]], total=1))
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "outbox.json").symlink_to(outside)
    with pytest.raises(InputError, match="is a link; links are not followed"):
        read_all(tmp_path / "export", "mastodon")


def test_mastodon_followers_only_audience_and_content_map_language(tmp_path):
    followers = "https://s.example/users/a/followers"
    items = [activity(0), activity(1, to=[followers]), activity(2, to=[], cc=[PUBLIC]),
             activity(3, content=None, contentMap={"de": "<p>ein Beitrag auf Deutsch</p>"}),
             activity(4, contentMap={"en": "<p>x</p>", "de": "<p>y</p>"})]
    p = tmp_path / "outbox.json"
    p.write_text(outbox_text([items], total=5))
    table, _, _ = read_all(p, "mastodon")
    assert table["audience"].to_pylist() == ["public", "followers", "public", "public", "public"]
    assert table["lang"].to_pylist() == [None, None, None, "de", None]
    assert table["text"].to_pylist()[3] == "ein Beitrag auf Deutsch"


def ten_rows(sep: str, bad: str) -> str:
    rows = [sep.join(["id", "user_id", "text"])]
    rows += [sep.join([str(i), f"user{i}", f"post number {i} of ten"]) for i in range(1, 11)]
    rows[5] = bad
    return "\n".join(rows) + "\n"


@pytest.mark.parametrize(("name", "sep"), [("posts.csv", ","), ("posts.tsv", "\t")])
def test_unclosed_quote_is_refused_not_swallowing_rows(ws, tmp_path, name, sep):
    p = tmp_path / name
    p.write_text(ten_rows(sep, sep.join(["5", "user5", '"post number 5 opens a quote'])))
    with pytest.raises(InputError, match="the quoted field that opens on line 6 is never closed") as err:
        ingest(ws, [p], progress=False)
    assert "user" not in str(err.value).split(":", 1)[1].replace("user_id", "")  # no raw ids
    with ws.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM messages").fetchall() == [(0,)]


def test_quote_closed_rows_later_is_refused_with_both_lines(tmp_path):
    text = ten_rows(",", '5,user5,"opens here').replace("8,user8,post number 8 of ten", '8,user8,"a, quoted" one')
    p = tmp_path / "posts.csv"
    p.write_text(text)
    with pytest.raises(InputError, match="opens on line 6 is closed on line 9 with more text after"):
        read_all(p, "csv")


def test_well_quoted_line_breaks_are_kept_and_ragged_rows_get_their_real_lines(tmp_path):
    p = tmp_path / "posts.csv"
    p.write_text('id,user_id,text\n1,u1,"three\nline\npost"\n2,u2,ok,extra\n3,u3,"two\nlines"\n4,u4\n5,u5,fine\n')
    table, rejects, _ = read_all(p, "csv")
    assert table["row"].to_pylist() == [1, 3, 5]
    assert table["text"].to_pylist()[0] == "three\nline\npost"
    assert [(r.row, r.reason, r.detail) for r in rejects] == [
        (2, "bad_row", "line 5: 4 fields where the header has 3"),
        (4, "bad_row", "line 8: 2 fields where the header has 3")]


def test_record_longer_than_a_parser_block_is_read(tmp_path):
    # pyarrow reads 4 MiB blocks; a longer record used to stop with "straddles two blocks".
    p = tmp_path / "posts.csv"
    p.write_text("id,user_id,text\n1,u1,\"" + "long " * (2 << 20) + "\"\n2,u2,short\n")
    table, rejects, _ = read_all(p, "csv")
    assert table.num_rows == 2 and rejects == []


def test_line_over_the_cap_is_a_clear_error_in_csv(tmp_path):
    p = tmp_path / "posts.csv"
    p.write_text("id,user_id,text\n1,u1," + "x" * (3 << 20) + "\n2,u2,short\n")
    with pytest.raises(InputError, match="line 2 is over 1 MiB"):
        read_all(p, "csv", limits=Limits(line=1 << 20))


def test_messages_do_not_print_file_content(tmp_path):
    p = tmp_path / "noheader.csv"
    p.write_text("98765,@alice_handle\x1b[2J,my secret post text\n1,@bob,another\n")
    with pytest.raises(InputError) as err:
        read_all(p, "csv")
    msg = str(err.value)
    assert "98765" not in msg and "alice" not in msg and "\x1b" not in msg and "secret" not in msg
    assert "do not look like column names" in msg


def test_ingest_of_a_bad_time_does_not_show_the_value(ws, tmp_path):
    p = tmp_path / "posts.csv"
    p.write_text("user_id,text,created_at\nu1,a post here,@bob_handle\n")
    rep = ingest(ws, [p], progress=False)
    [ex] = rep.files[0].examples["bad_time"]
    assert "bob" not in ex.detail and "bob" not in rep.summary()


@pytest.mark.parametrize("word", ["now", "today", "Now", "yesterday", "tomorrow"])
def test_relative_time_words_are_bad_time_not_the_ingest_time(word):
    arr, bad = parse_times([word, "2021-03-01T08:15:00Z"])
    assert arr.to_pylist()[0] is None and bad.tolist() == [True, False]


def test_epoch_seconds_and_milliseconds_by_magnitude():
    arr, bad = parse_times(["1600000000", "1600000000000", "1600000000.25", "1600000000123", "20210301"])
    want = dt.datetime(2020, 9, 13, 12, 26, 40, tzinfo=UTC)
    assert arr.to_pylist() == [want, want, want + dt.timedelta(milliseconds=250),
                               want + dt.timedelta(milliseconds=123), dt.datetime(2021, 3, 1, tzinfo=UTC)]
    assert not bad.any()


@pytest.mark.parametrize("value", ["0000-01-01T00:00:00Z", "-62135596800", "-1", "99999999999999999",
                                   "1e400", "99999-01-01", "9" * 40, "\x00\x01"])
def test_out_of_range_times_are_counted_not_overflow(value):
    arr, bad = parse_times([value])
    assert arr.to_pylist() == [None] and bad.tolist() == [True]


def test_year_zero_in_a_file_is_one_counted_reject(ws, tmp_path):
    p = tmp_path / "posts.csv"
    p.write_text("user_id,text,created_at\nu1,a first post,0000-01-01T00:00:00Z\nu2,a second post,-99\n"
                 "u3,a third post,1600000000000\n")
    rep = run(ws, p)
    assert rep.files[0].counts == {"stored": 1, "bad_time": 2}


def reddit_lines() -> str:
    recs = [
        {"author": "[deleted]", "body": "an orphaned comment", "subreddit": "books", "id": "a1",
         "created_utc": 1500000000},
        {"author": "reader1", "body": "[removed]", "subreddit": "books", "id": "a2", "created_utc": 1500000001},
        {"author": "reader2", "body": "&gt; quoted&lt;3 fish &amp; chips", "subreddit": "books", "id": "a3",
         "created_utc": 1500000002},
        {"author": "[removed]", "body": "[deleted]", "subreddit": "books", "id": "a4", "created_utc": 1500000003},
    ]
    return "".join(json.dumps(r) + "\n" for r in recs)


def test_generic_json_lines_on_a_reddit_dump_counts_deleted_authors_and_bodies(ws, tmp_path):
    p = tmp_path / "RC_dump.jsonl"
    p.write_text(reddit_lines())
    rep = run(ws, p, fmt="jsonl", columns=ColumnMap(text="body", user="author"))
    assert rep.files[0].counts == {"stored": 1, "deleted_user": 2, "deleted_text": 1}


def test_reddit_bodies_are_html_unescaped(tmp_path):
    p = tmp_path / "RC_dump.ndjson"
    p.write_text(reddit_lines())
    table, rejects, _ = read_all(p, "reddit")
    assert table["text"].to_pylist() == ["> quoted<3 fish & chips"]
    assert sorted(r.reason for r in rejects) == ["deleted_text", "deleted_text", "deleted_user"]


def test_platform_language_tags(tmp_path):
    tweets = [{"tweet": {"id_str": str(i), "full_text": f"@a @b https://t.co/x {i}", "lang": lang}}
              for i, lang in enumerate(["en", "und", None])]
    data = tmp_path / "data"
    data.mkdir()
    (data / "tweets.js").write_text("window.YTD.tweets.part0 = " + json.dumps(tweets))
    table, _, _ = read_all(data / "tweets.js", "x-archive")
    assert table["lang"].to_pylist() == ["en", "und", None]


def test_bare_tweets_js_and_data_folder_are_x_archives(ws, tmp_path):
    tweets = [{"tweet": {"id_str": str(i), "full_text": f"tweet number {i} of a donor", "lang": "en",
                         "created_at": "Wed Oct 10 20:19:24 +0000 2018"}} for i in range(3)]
    data = tmp_path / "data"
    data.mkdir()
    (data / "tweets.js").write_text("window.YTD.tweets.part0 = " + json.dumps(tweets))
    donated = tmp_path / "donation_upload"  # no telling name: the content decides
    donated.write_bytes((data / "tweets.js").read_bytes())
    for p in (data / "tweets.js", data, donated):
        assert detect_format(p) == "x-archive", p
    table, _, info = read_all(data / "tweets.js", "x-archive")
    assert table.num_rows == 3 and info.single_person
    assert table["user"].null_count == 3
    rep = run(ws, data / "tweets.js", fmt="x-archive", donor_id="P01")
    assert rep.files[0].counts == {"stored": 3}
    (data / "account.js").write_text('window.YTD.account.part0 = [{"account": {"accountId": "42"}}]')
    table, _, _ = read_all(data, "x-archive")
    assert set(table["user"].to_pylist()) == {"42"}


def test_inflated_archive_member_is_refused_without_inflating_it(tmp_path):
    p = tmp_path / "archive.zip"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("data/tweets.js", "window.YTD.tweets.part0 = []")
        zf.writestr("data/account.js", "window.YTD.account.part0 = [" + " " * (40 << 20) + "]")
    assert p.stat().st_size < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match="account.js is over 16 MiB"):
            read_all(p, "x-archive")
        with pytest.raises(InputError, match="account.js declares 40 MiB, over the cap"):
            read_all(p, "x-archive", limits=Limits(inflated=8 << 20))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 80 << 20


def test_compressed_file_inflating_past_the_cap_is_refused(tmp_path):
    p = tmp_path / "posts.jsonl.gz"
    line = json.dumps({"user": "u", "text": "a post " * 20}) + "\n"
    p.write_bytes(gzip.compress(line.encode() * 20000))
    with pytest.raises(InputError, match="inflates to more than 1 MiB"):
        read_all(p, "jsonl", limits=Limits(inflated=1 << 20))


@pytest.mark.parametrize("pack", [lambda b: b, gzip.compress])
def test_endless_line_is_one_counted_reject(tmp_path, pack):
    good = json.dumps({"user": "u1", "text": "a short post"}) + "\n"
    p = tmp_path / "posts.jsonl"
    p.write_bytes(pack((good + '{"user": "u2", "text": "' + "z" * (24 << 20) + '"}\n' + good).encode()))
    tracemalloc.start()
    try:
        table, rejects, _ = read_all(p, "jsonl", limits=Limits(line=1 << 20))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert table.num_rows == 2
    assert [(r.row, r.reason) for r in rejects] == [(2, "line_too_long")]
    assert peak < 8 << 20  # a few times the 1 MiB cap, not the 24 MiB line


def test_garbage_between_zstd_frames_is_a_clear_error(tmp_path):
    frame = zstandard.ZstdCompressor().compress((FIX / "posts.jsonl").read_bytes())
    p = tmp_path / "posts.jsonl.zst"
    p.write_bytes(frame + b"this is not a zstd frame" + frame)
    with pytest.raises(InputError, match="the compressed data is broken"):
        read_all(p, "jsonl")


def test_deeply_nested_json_is_a_counted_reject(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    p = tmp_path / "posts.jsonl"
    p.write_text(json.dumps({"user": "u", "text": "fine post"}) + "\n" + '{"user": "u", "text": ' + deep + "}\n")
    table, rejects, _ = read_all(p, "jsonl")
    assert table.num_rows == 1 and [(r.row, r.reason) for r in rejects] == [(2, "bad_json")]
    assert "nested too deeply" in rejects[0].detail
    # Objects about as deep as json.loads goes: finding column names must not recurse.
    p.write_text('{"user": "u", "text": "deep keys", "more": ' + '{"k": ' * 900 + '"x"' + "}" * 901 + "\n")
    table, rejects, _ = read_all(p, "jsonl")
    assert table.num_rows + len(rejects) == 1
    arr = tmp_path / "outbox.json"
    arr.write_text(outbox_text([[activity(0)]], total=2)[:-2] + ", " + deep + "]}")
    with pytest.raises(InputError, match="holds 2 items .*nested too deeply"):
        read_all(arr, "mastodon")


@pytest.mark.parametrize(("values", "kind"), [
    (pa.array([{"a": "x"}, {"a": "y"}]), "lists or records"),
    (pa.array([["x"], ["y"]]), "lists or records"),
    (pa.array([b"\xff\xfe", b"ok"], pa.binary()), "bytes that are not UTF-8 text"),
])
def test_parquet_text_column_of_the_wrong_type_is_a_clear_error(tmp_path, values, kind):
    p = tmp_path / "posts.parquet"
    pq.write_table(pa.table({"user_id": ["u1", "u2"], "text": values}), p)
    with pytest.raises(InputError, match=f"column 'text' holds .*{re.escape(kind)}"):
        read_all(p, "parquet")


def test_parquet_binary_text_that_is_utf8_is_read(tmp_path):
    p = tmp_path / "posts.parquet"
    pq.write_table(pa.table({"user_id": ["u1"], "text": pa.array(["café".encode()], pa.binary())}), p)
    table, _, _ = read_all(p, "parquet")
    assert table["text"].to_pylist() == ["café"]


@pytest.mark.parametrize("name", ["posts.csv", "posts.jsonl"])
def test_text_column_as_group_column_is_refused(name):
    with pytest.raises(InputError, match="group column"):
        read_all(FIX / name, name.split(".")[1],
                 columns=ColumnMap(text="text" if name.endswith("jsonl") else "message", groups=("text",) if name.endswith("jsonl") else ("message",)))


def test_unknown_format_is_refused_by_get_reader():
    with pytest.raises(InputError, match="unknown format 'nope'"):
        get_reader("nope")
