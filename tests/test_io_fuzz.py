"""Property-based fuzzing of every reader (hypothesis), on generated and mangled files.

Two properties, for every format:

- reading raises nothing but :class:`PsyprofileError` (one clear message for a file that
  cannot be read at all), whatever the bytes;
- nothing is lost or counted twice: for a generated file whose records we know, the rows
  a reader yields plus the rows it rejects are exactly its records, and no row number is
  used twice.

The budget is bounded (a few seconds per reader) so this runs in the default suite.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from psyprofile.errors import PsyprofileError
from psyprofile.io.base import POST_FIELDS, ColumnMap, FileInfo, Limits
from psyprofile.io.formats import FORMATS, detect_format, get_reader

# The default run is short and repeatable; PSYPROFILE_FUZZ_EXAMPLES=500 searches longer,
# with fresh random examples each time.
_EXAMPLES = int(os.environ.get("PSYPROFILE_FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=_EXAMPLES or 40, deadline=None, derandomize=not _EXAMPLES,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
# Small caps, so that long lines and inflation are reached by small examples.
SMALL = Limits(inflated=1 << 20, line=4 << 10)
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"


@contextmanager
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


def read(path: Path, fmt: str, limits: Limits = SMALL, columns: ColumnMap | None = None) -> tuple[int, list[int]] | None:
    """(rows yielded, row numbers of yields and rejects), or None when the file is refused
    with a :class:`PsyprofileError`; any other exception fails the test."""
    info = FileInfo(fmt, limits=limits)
    yielded, rows = 0, []
    try:
        for chunk in get_reader(fmt)(path, columns or ColumnMap(), info, 7):
            assert tuple(chunk.table.column_names[:5]) == POST_FIELDS
            yielded += chunk.table.num_rows
            rows += chunk.table["row"].to_pylist() + [r.row for r in chunk.rejects]
    except PsyprofileError:
        return None
    return yielded, rows


def check_reconciled(got: tuple[int, list[int]] | None, records: int) -> None:
    """Every record read is yielded or rejected, exactly once."""
    if got is None:
        return
    _, rows = got
    assert len(rows) == records, (len(rows), records)
    assert len(set(rows)) == len(rows), "a row counted twice"


# --- value strategies ------------------------------------------------------------------

texts = st.text(max_size=40)
hostile_text = st.one_of(
    texts,
    st.sampled_from(["[deleted]", "[removed]", " [deleted] ", "", "   ", "&gt; &amp;&lt;", "\x00\x1b[2J",
                     "\ud800", "x" * 5000]),
)
times = st.one_of(
    st.none(), st.sampled_from(["now", "today", "0000-01-01T00:00:00Z", "-62135596800", "1600000000",
                                "1600000000000", "1e400", "9" * 30, "2021-03-01T08:15:00Z",
                                "Wed Oct 10 20:19:24 +0000 2018", "20210301"]),
    texts, st.integers(min_value=-(10**20), max_value=10**20), st.floats(allow_nan=True),
)
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), hostile_text)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)), max_leaves=8)


def deep(n: int) -> str:
    return "[" * n + "]" * n


# --- JSON lines and Reddit -------------------------------------------------------------

post_records = st.fixed_dictionaries(
    {"user": st.one_of(hostile_text, json_values), "text": st.one_of(hostile_text, json_values)},
    optional={"created_at": times, "id": json_values, "subreddit": json_values},
)
reddit_records = st.fixed_dictionaries(
    {"author": st.one_of(hostile_text, json_values), "subreddit": json_values},
    optional={"body": st.one_of(hostile_text, json_values), "title": hostile_text,
              "selftext": st.one_of(hostile_text, json_values), "created_utc": times,
              "id": json_values, "name": json_values},
)


def json_lines(records: st.SearchStrategy) -> st.SearchStrategy[list[str]]:
    """Lines of a JSON lines file: records, other JSON values, broken and oversized lines."""
    line = st.one_of(
        records.map(json.dumps),
        json_values.map(json.dumps),
        texts.filter(lambda t: t.strip() and "\n" not in t and "\r" not in t),
        st.just(deep(50_000)),
        st.just(json.dumps({"user": "u", "text": "y" * (5 << 10)})),  # over SMALL.line
        st.just("\xff\xfe not utf-8"),
    )
    return st.lists(line, max_size=12)


def pack(raw: bytes, how: str) -> bytes:
    if how == "gz":
        return gzip.compress(raw)
    if how == "zst":
        return zstandard.ZstdCompressor().compress(raw)
    if how == "zst2":  # two frames, as Pushshift writes
        half = len(raw) // 2
        return zstandard.ZstdCompressor().compress(raw[:half]) + zstandard.ZstdCompressor().compress(raw[half:])
    return raw


def encode_lines(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode("utf-8", "surrogatepass").replace(
        "\xff\xfe".encode(), b"\xff\xfe")


@FUZZ
@given(lines=json_lines(post_records), how=st.sampled_from(["plain", "gz", "zst", "zst2"]))
def test_jsonl_never_crashes_and_counts_every_line(lines, how):
    with workdir() as d:
        p = d / "posts.jsonl"
        p.write_bytes(pack(encode_lines(lines), how))
        check_reconciled(read(p, "jsonl"), sum(1 for line in lines if line.strip()))


@FUZZ
@given(records=st.lists(st.one_of(post_records, json_values), max_size=10))
def test_json_array_never_crashes_and_counts_every_element(records):
    with workdir() as d:
        p = d / "posts.json"
        p.write_text(json.dumps(records), encoding="utf-8", errors="surrogatepass")
        check_reconciled(read(p, "jsonl"), len(records))


@FUZZ
@given(lines=json_lines(reddit_records), how=st.sampled_from(["plain", "zst"]))
def test_reddit_never_crashes_and_counts_every_line(lines, how):
    with workdir() as d:
        p = d / "RC_2020-01.zst"
        p.write_bytes(pack(encode_lines(lines), how))
        check_reconciled(read(p, "reddit"), sum(1 for line in lines if line.strip()))


# --- CSV and TSV -----------------------------------------------------------------------

cells = st.one_of(st.text(alphabet=st.sampled_from(list('ab ,\t"\n\r\'é@')), max_size=12), st.just("[deleted]"))


@FUZZ
@given(rows=st.lists(st.lists(cells, min_size=1, max_size=5), max_size=12),
       sep=st.sampled_from([",", "\t"]), end=st.sampled_from(["\n", "\r\n"]), times_=st.lists(times, max_size=12))
def test_well_quoted_csv_and_tsv_count_every_record(rows, sep, end, times_):
    out = io.StringIO()
    # Python's writer quotes a field holding a line end of its own kind only; a bare \r
    # in an unquoted field is a line break to every CSV reader (and refused by ours).
    rows = [[c.replace("\r", "") for c in r] if end == "\n" else r for r in rows]
    writer = csv.writer(out, delimiter=sep, lineterminator=end, quoting=csv.QUOTE_MINIMAL)
    writer.writerow(["user_id", "text", "created_at"])
    # An all-empty one-field row would be a blank line, which CSV readers skip.
    rows = [r if r != [""] else ['""'] for r in rows]
    for i, r in enumerate(rows):
        r = list(r)
        if len(r) == 3 and i < len(times_):
            r[2] = str(times_[i])
        writer.writerow(r)
    with workdir() as d:
        p = d / ("posts.csv" if sep == "," else "posts.tsv")
        p.write_text(out.getvalue(), newline="")
        got = read(p, "csv" if sep == "," else "tsv", limits=Limits())
        assert got is not None, "a well-quoted file must be read"
        check_reconciled(got, len(rows))


@FUZZ
@given(body=st.binary(max_size=300), header=st.sampled_from([b"user_id,text\n", b"user_id\ttext\n", b""]),
       fmt=st.sampled_from(["csv", "tsv"]), how=st.sampled_from(["plain", "gz", "zst"]))
def test_csv_of_any_bytes_never_crashes(body, header, fmt, how):
    with workdir() as d:
        p = d / f"posts.{fmt}"
        p.write_bytes(pack(header + body, how))
        got = read(p, fmt)
        if got is not None:
            assert len(set(got[1])) == len(got[1])


# --- Parquet ---------------------------------------------------------------------------

parquet_columns = st.sampled_from([
    pa.array(["a", "b", None]), pa.array([1, 2, 3]), pa.array([1.5, None, 3.0]),
    pa.array([{"x": "a"}, {"x": "b"}, None]), pa.array([["a"], [], None]),
    pa.array([b"a", b"\xff", None], pa.binary()), pa.array([True, False, None]),
    pa.array([0, 1600000000000000, None], pa.timestamp("us")),
    pa.array(["now", "1600000000", "0000-01-01"]), pa.array(["[deleted]", "x", "[removed]"]),
])


@FUZZ
@given(user=parquet_columns, text=parquet_columns, time=parquet_columns)
def test_parquet_of_any_column_types_never_crashes(user, text, time):
    with workdir() as d:
        p = d / "posts.parquet"
        pq.write_table(pa.table({"user_id": user, "text": text, "created_at": time}), p)
        check_reconciled(read(p, "parquet"), 3)


# --- Mastodon --------------------------------------------------------------------------

addresses = st.one_of(st.none(), st.just([PUBLIC]), st.just(["https://s.example/u/a/followers"]),
                      st.just(["https://s.example/u/b"]), json_values)
activities = st.one_of(
    st.fixed_dictionaries(
        {"type": st.one_of(st.sampled_from(["Create", "Announce"]), json_values),
         "object": st.one_of(st.fixed_dictionaries(
             {"content": st.one_of(hostile_text, json_values)},
             optional={"to": addresses, "cc": addresses, "contentMap": json_values, "id": json_values,
                       "published": times}), json_values)},
        optional={"actor": json_values, "to": addresses, "published": times}),
    json_values,
)


def write_export(d: Path, name: str, data: bytes, how: str) -> Path:
    """``data`` as member ``name`` of an export: the file itself, a folder, a .zip or a .tar.gz."""
    if how == "file":
        p = d / name.rsplit("/", 1)[-1]
        p.write_bytes(data)
        return p
    if how == "folder":
        (d / "export" / name).parent.mkdir(parents=True)
        (d / "export" / name).write_bytes(data)
        return d / "export"
    if how == "zip":
        with zipfile.ZipFile(d / "export.zip", "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(name, data)
        return d / "export.zip"
    with tarfile.open(d / "export.tar.gz", "w:gz") as tf:
        member = tarfile.TarInfo(name)
        member.size = len(data)
        tf.addfile(member, io.BytesIO(data))
    return d / "export.tar.gz"


def utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


@FUZZ
@given(lists=st.lists(st.lists(activities, max_size=6), min_size=1, max_size=3),
       total=st.one_of(st.none(), st.integers(0, 8), json_values), how=st.sampled_from(["file", "folder", "zip", "tar"]),
       cut=st.one_of(st.none(), st.integers(1, 400)))
def test_mastodon_never_crashes_and_counts_every_item(lists, total, how, cut):
    text = '{"type": "OrderedCollection", "totalItems": ' + json.dumps(total)
    text += "".join(f', "orderedItems": {json.dumps(items)}' for items in lists) + "}"
    if cut is not None:
        text = text[:-cut]
    with workdir() as d:
        p = write_export(d, "outbox.json", utf8(text), how)
        got = read(p, "mastodon", limits=Limits(line=1 << 20))
        if cut is None:
            check_reconciled(got, len(lists[-1]))
        elif got is not None:
            assert len(set(got[1])) == len(got[1])


# --- X archive -------------------------------------------------------------------------

tweets = st.one_of(
    st.fixed_dictionaries({"tweet": st.fixed_dictionaries(
        {"full_text": st.one_of(hostile_text, json_values)},
        optional={"id_str": json_values, "created_at": times, "lang": json_values})}),
    json_values,
)
accounts = st.one_of(
    st.none(), st.just('window.YTD.account.part0 = [{"account": {"accountId": "7"}}]'),
    texts, json_values.map(lambda v: "window.YTD.account.part0 = " + json.dumps(v)),
)


@FUZZ
@given(items=st.lists(tweets, max_size=8), account=accounts, how=st.sampled_from(["file", "folder", "zip"]))
def test_x_archive_never_crashes_and_counts_every_tweet(items, account, how):
    tweets_js = "window.YTD.tweets.part0 = " + json.dumps(items)
    with workdir() as d:
        if how == "file":
            p = d / "tweets.js"
            p.write_text(tweets_js, encoding="utf-8", errors="surrogatepass")
        else:
            files = {"data/tweets.js": tweets_js, **({"data/account.js": account} if account else {})}
            if how == "folder":
                p = d / "archive"
                for name, text in files.items():
                    (p / name).parent.mkdir(parents=True, exist_ok=True)
                    (p / name).write_text(text, encoding="utf-8", errors="surrogatepass")
            else:
                p = d / "archive.zip"
                with zipfile.ZipFile(p, "w") as zf:
                    for name, text in files.items():
                        zf.writestr(name, text.encode("utf-8", "surrogatepass"))
        assert detect_format(p) == "x-archive"
        check_reconciled(read(p, "x-archive", limits=Limits(line=1 << 20)), len(items))


# --- every format, on any bytes ---------------------------------------------------------

anything = st.one_of(
    st.binary(max_size=400),
    json_values.map(lambda v: json.dumps(v).encode("utf-8", "surrogatepass")),
    st.lists(json_values, max_size=5).map(lambda vs: "".join(json.dumps(v) + "\n" for v in vs).encode(
        "utf-8", "surrogatepass")),
    # Far deeper than json's recursion limit (telegram refuses nesting past its MAX_DEPTH
    # before ijson-style prefixes, which cost O(depth²), are built).
    st.just(deep(100_000).encode()),
)


@FUZZ
@given(data=anything, fmt=st.sampled_from(FORMATS), how=st.sampled_from(["plain", "gz", "zst", "cut-gz"]),
       name=st.sampled_from(["input", "posts.json", "result.json", "outbox.json", "tweets.js", "posts.csv"]))
def test_every_format_on_any_bytes_raises_only_psyprofile_errors(data, fmt, how, name):
    with workdir() as d:
        p = d / name
        packed = pack(data, "gz" if how == "cut-gz" else how)
        p.write_bytes(packed[: len(packed) // 2] if how == "cut-gz" else packed)
        try:
            detected = detect_format(p)
        except PsyprofileError:
            detected = None
        for f in {fmt, detected} - {None}:
            read(p, f)


@FUZZ
@given(data=anything, fmt=st.sampled_from(FORMATS), member=st.sampled_from(
    ["data/tweets.js", "data/account.js", "outbox.json", "result.json", "repo.car", "posts.json",
     "your_facebook_activity/posts/your_posts__check_ins__photos_and_videos_1.json",
     "your_instagram_activity/content/posts_1.json"]), how=st.sampled_from(["zip", "folder", "tar"]))
def test_every_format_on_any_archive_raises_only_psyprofile_errors(data, fmt, member, how):
    with workdir() as d:
        p = write_export(d, member, data, how)
        try:
            detected = detect_format(p)
        except PsyprofileError:
            detected = None
        for f in {fmt, detected} - {None}:
            read(p, f)


# --- through the ingest pipeline --------------------------------------------------------


@settings(FUZZ, max_examples=max(_EXAMPLES // 4, 8))  # a workspace per example: slower
@given(files=st.lists(st.tuples(json_lines(post_records), st.sampled_from(["plain", "gz"])), min_size=1, max_size=3))
def test_ingest_stores_or_counts_every_line(files):
    """rows read = stored + Σ rejected, and rows read = the lines written, per file."""
    from psyprofile.io.ingest import ingest
    from psyprofile.store.workspace import Workspace

    with workdir() as d:
        ws = Workspace.create(d / "study")
        paths, expected = [], []
        for i, (lines, how) in enumerate(files):
            p = d / f"part{i}.jsonl"
            p.write_bytes(pack(encode_lines(lines), how))
            paths.append(p)
            expected.append(sum(1 for line in lines if line.strip()))
        try:
            report = ingest(ws, paths, progress=False)
        except PsyprofileError:
            return
        assert [f.rows_read for f in report.files] == expected
        with ws.connect(read_only=True) as con:
            stored = con.execute("SELECT count(*) FROM messages WHERE run_id = ?", [report.run_id]).fetchall()[0][0]
        assert stored == report.rows_stored
