"""Lexicon readers, the bundled-lexicon registry (with a stand-in DLATK archive) and
resolution of names and paths."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from psyprofile.errors import InputError
from psyprofile.lexica import wwbp
from psyprofile.lexica.load import (
    read_csv,
    read_dic,
    read_dlatk_table,
    read_lexicon_file,
    write_csv,
)
from psyprofile.lexica.registry import (
    LexiconUnavailable,
    list_lexica,
    load_bundled,
    load_stored,
    resolve_lexicon,
    save_lexicon,
)
from psyprofile.store.workspace import Workspace

FIX = Path(__file__).parent / "fixtures" / "lexica"
WWBP_FIXTURE = Path(__file__).parent / "fixtures" / "profiles" / "bigfive_lexicon.json"


def rows(lex):
    e = lex.entries
    return sorted(zip(e.column("term").to_pylist(), e.column("category").to_pylist(),
                      e.column("weight").to_pylist(), strict=True))


def test_weighted_csv():
    lex = read_csv(FIX / "weighted.csv")
    assert lex.name == "weighted" and lex.weighted
    assert rows(lex) == sorted([("happy", "POS", 2.0), ("sad", "NEG", 3.0), ("abandon*", "NEG", 0.5),
                                ("happy", "NEG", -1.0), ("_intercept", "POS", 0.25),
                                ("_intercept", "NEG", -0.1)])
    assert lex.categories == ["NEG", "POS"]
    assert lex.n_terms == 3  # _intercept is not a term


def test_unweighted_csv_without_header():
    lex = read_csv(FIX / "unweighted.csv")
    assert not lex.weighted
    assert rows(lex) == [("glad", "posemo", 1.0), ("happy", "posemo", 1.0), ("sad", "negemo", 1.0)]


def test_bad_csv_lists_every_bad_line():
    path = FIX / "bad.csv"
    with pytest.raises(InputError) as exc:
        read_csv(path)
    assert str(exc.value) == (
        f"{path}: 5 bad lexicon rows:\n"
        f"  {path}:3: empty term\n"
        f"  {path}:4: missing weight for term 'sad'\n"
        f"  {path}:5: weight 'abc' is not a number\n"
        f"  {path}:6: duplicate of line 2 (term 'happy', category 'POS')\n"
        f"  {path}:7: empty category for term 'joy'\n"
        "Fix these rows (each needs a term, a category and, if the file has a weight column, "
        "a numeric weight; each (term, category) once) and load the lexicon again."
    )


def test_bad_csv_shows_first_five_and_the_count(tmp_path):
    path = tmp_path / "many.csv"
    path.write_text("term,category,weight\n" + "".join(f"w{i},C,x\n" for i in range(8)))
    with pytest.raises(InputError) as exc:
        read_csv(path)
    msg = str(exc.value)
    assert msg.startswith(f"{path}: 8 bad lexicon rows (showing the first 5):\n  {path}:2: weight 'x'")
    assert f"{path}:6:" in msg and f"{path}:7:" not in msg


def test_dic_reader():
    lex = read_dic(FIX / "liwc.dic")
    assert not lex.weighted
    assert rows(lex) == [("ab*", "negemo", 1.0), ("abandon*", "negemo", 1.0),
                         ("abandoned", "negemo", 1.0), ("happ*", "posemo", 1.0),
                         ("sad", "negemo", 1.0)]


def test_dic_unknown_category_number(tmp_path):
    path = tmp_path / "x.dic"
    path.write_text("%\n1\tpos\n%\ngood\t1\nbad\t2 3\n")
    with pytest.raises(InputError, match=r"x\.dic:5: category number\(s\) 2, 3 not in the header"):
        read_dic(path)


def make_dlatk_db(path: Path) -> Path:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE dd_PastPreFut (id INTEGER PRIMARY KEY, term TEXT, category TEXT, weight DOUBLE)")
    con.executemany("INSERT INTO dd_PastPreFut (term, category, weight) VALUES (?, ?, ?)", [
        ("was", "PAST", 0.5), ("will", "FUTURE", 0.7), ("_intercept", "PAST", -0.2),
        ("", "PAST", 1.0), (" now ", "PRESENT", 0.3),
    ])
    con.execute("CREATE TABLE nrc_emot (id INTEGER, term TEXT, category TEXT, weight FLOAT)")
    con.executemany("INSERT INTO nrc_emot VALUES (?, ?, ?, ?)",
                    [(1, "joyful", "joy", 0.8), (2, "scared", "fear", 1.4)])
    con.commit()
    con.close()
    return path


def test_dlatk_table_reader(tmp_path):
    db = make_dlatk_db(tmp_path / "lex.db")
    lex = read_dlatk_table(db, "dd_PastPreFut")
    assert lex.weighted and lex.name == "dd_PastPreFut"
    assert rows(lex) == sorted([("was", "PAST", 0.5), ("will", "FUTURE", 0.7),
                                ("_intercept", "PAST", -0.2), ("now", "PRESENT", 0.3)])
    assert lex.notes == ["1 rows with an empty term or category skipped"]
    assert rows(read_lexicon_file(f"{db}:nrc_emot")) == [("joyful", "joy", 0.8), ("scared", "fear", 1.4)]
    with pytest.raises(InputError, match="no table 'nope'. Tables there: dd_PastPreFut, nrc_emot"):
        read_dlatk_table(db, "nope")


def test_csv_round_trip(tmp_path):
    lex = read_csv(FIX / "weighted.csv")
    write_csv(lex, tmp_path / "out.csv")
    assert rows(read_csv(tmp_path / "out.csv")) == rows(lex)
    unw = read_csv(FIX / "unweighted.csv")
    write_csv(unw, tmp_path / "u.csv")
    assert not read_csv(tmp_path / "u.csv").weighted


@pytest.fixture
def fake_archive(tmp_path, monkeypatch):
    """A stand-in for the DLATK sdist: extract_member returns a tiny lexicon database."""
    from psyprofile.datasets import dlatk_sdist
    from psyprofile.lexica import registry

    db = make_dlatk_db(tmp_path / "dlatk_lexica.db")
    calls = []

    def extract_member(member):
        calls.append(member)
        if not db.exists():
            raise OSError("no network")
        return db

    monkeypatch.setattr(dlatk_sdist, "extract_member", extract_member)
    monkeypatch.setattr(registry, "_archive_failure", [])
    monkeypatch.setenv("PSYPROFILE_CACHE", str(tmp_path / "cache"))
    # the WWBP lexicon by path, so listings do not run npm
    monkeypatch.setenv(wwbp.ENV, str(WWBP_FIXTURE))
    return db, calls


def test_bundled_lexicon_is_cached_as_parquet(fake_archive):
    db, calls = fake_archive
    lex = load_bundled("dd_PastPreFut")
    assert lex.weighted and "Schwartz" in lex.citation and "research use" in lex.licence
    assert calls == ["dlatk/data/dlatk_lexica.db"]
    db.unlink()  # the archive is gone: the Parquet cache must serve the table
    assert rows(load_bundled("dd_PastPreFut")) == rows(lex)
    assert len(calls) == 1


def test_nrc_emot_keeps_its_weights(fake_archive):
    # the NRC Hashtag Emotion Lexicon is real-valued: scored with its weights, as DLATK's
    # --weighted_lexicon does, not as a word list
    lex = load_bundled("nrc_emot")
    assert lex.weighted and "Kiritchenko" in lex.citation
    assert rows(lex) == [("joyful", "joy", pytest.approx(0.8)), ("scared", "fear", pytest.approx(1.4))]


def test_unavailable_lexica_are_listed_with_the_reason(fake_archive):
    db, calls = fake_archive
    db.unlink()
    listing = {r["name"]: r for r in list_lexica()}
    assert listing["fb2000_cp"]["available"] is False
    assert "could not be obtained: no network" in listing["fb2000_cp"]["reason"]
    assert "PLOS ONE" in listing["fb2000_cp"]["citation"]
    with pytest.raises(LexiconUnavailable):
        load_bundled("fb2000_cp")
    assert len(calls) == 1  # one failed attempt per process, not one per lexicon
    vader = listing["vader"]
    assert vader["available"] and vader["terms"] == 7506 and vader["categories"] == 1
    assert "MIT" in vader["licence"]


def test_resolve_names_stored_lexica_and_paths(tmp_path):
    ws = Workspace.create(tmp_path / "study")
    lex = read_csv(FIX / "weighted.csv", name="mine")
    with ws.connect() as con:
        save_lexicon(con, lex)
        assert rows(load_stored(con, "mine")) == rows(lex)
    assert resolve_lexicon("mine", ws).weighted
    assert resolve_lexicon("vader").name == "vader"
    assert resolve_lexicon(str(FIX / "liwc.dic")).name == "liwc"
    with pytest.raises(InputError, match="no lexicon 'nothing': .* stored in this study \\(mine\\)"):
        resolve_lexicon("nothing", ws)
    with pytest.raises(InputError, match="name of a bundled lexicon"), ws.connect() as con:
        save_lexicon(con, read_csv(FIX / "weighted.csv", name="vader"))


def test_cli_list_json(fake_archive):
    import json

    from click.testing import CliRunner

    from psyprofile.cli.main import cli

    res = CliRunner().invoke(cli, ["lexica", "list", "--json"])
    assert res.exit_code == 0, res.output
    listing = {r["name"]: r for r in json.loads(res.output)}
    # the stand-in archive holds only two of the tables
    assert listing["dd_PastPreFut"]["available"] and listing["dd_PastPreFut"]["terms"] == 3
    assert listing["dd_PastPreFut"]["categories"] == 3
    assert not listing["fb2000_cp"]["available"]
    assert "no table 'fb2000_cp'" in listing["fb2000_cp"]["reason"]
