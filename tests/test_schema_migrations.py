"""Migration 8 (the schema in one place): a workspace whose modules created their tables on
first use ends up with exactly the tables and columns a new workspace gets from the
migrations, its rows kept, and its embedding caches listed."""

from __future__ import annotations

from types import SimpleNamespace

import duckdb

from psyprofile.features.embeddings import cache_table, create_cache
from psyprofile.store.schema import MIGRATIONS
from psyprofile.store.workspace import Workspace

# What modules ran on first use in the builds of schema version 4, before migrations 5-7
# added columns to some of these tables (predictions, dla_results, study_groups).
FIRST_USE_DDL = """
CREATE TABLE lexica (name VARCHAR PRIMARY KEY, kind VARCHAR, weighted BOOLEAN, licence VARCHAR,
    citation VARCHAR, source VARCHAR, params JSON, created_at TIMESTAMP);
CREATE TABLE profile_vader (message_id VARCHAR PRIMARY KEY, compound DOUBLE);
CREATE TABLE survey_scales (inventory VARCHAR, scale VARCHAR, n_items INTEGER,
    max_missing INTEGER, n_scored BIGINT, mean DOUBLE, sd DOUBLE, n_complete BIGINT,
    alpha DOUBLE, alpha_lo DOUBLE, alpha_hi DOUBLE, omega DOUBLE, omega_lo DOUBLE,
    omega_hi DOUBLE, n_boot INTEGER, seed INTEGER, created_at TIMESTAMP);
CREATE TABLE survey_flags (user_id VARCHAR, inventory VARCHAR, n_answered INTEGER,
    n_missing INTEGER, longstring INTEGER, even_odd DOUBLE, flag_longstring BOOLEAN,
    flag_even_odd BOOLEAN, careless BOOLEAN);
CREATE TABLE predictions (user_id VARCHAR NOT NULL, model VARCHAR NOT NULL,
    outcome VARCHAR NOT NULL, value DOUBLE, lo DOUBLE, hi DOUBLE, words BIGINT);
CREATE TABLE study_runs (run_id INTEGER, created_at TIMESTAMP, params VARCHAR, n_users BIGINT);
CREATE TABLE study_groups (run_id INTEGER, "by" VARCHAR, grp VARCHAR, period VARCHAR,
    family VARCHAR, score VARCHAR, n_users BIGINT, n_posts BIGINT, mean DOUBLE, median DOUBLE,
    ci_lo DOUBLE, ci_hi DOUBLE, suppressed BOOLEAN, dp BOOLEAN);
CREATE TABLE study_comparisons (run_id INTEGER, "by" VARCHAR, score VARCHAR, group_a VARCHAR,
    group_b VARCHAR, effect VARCHAR, estimate DOUBLE, ci_lo DOUBLE, ci_hi DOUBLE, p DOUBLE,
    q DOUBLE);
CREATE TABLE dla_runs (run_id INTEGER PRIMARY KEY, created_at TIMESTAMP, outcomes VARCHAR[],
    feature_sets VARCHAR, level VARCHAR, params JSON, summary JSON);
CREATE TABLE dla_results (run_id INTEGER, level VARCHAR, feature_sets VARCHAR,
    outcome VARCHAR, feature VARCHAR, feature_set VARCHAR, coef DOUBLE, ci_lo DOUBLE,
    ci_hi DOUBLE, p DOUBLE, p_corrected DOUBLE, n BIGINT, odds_ratio DOUBLE);
CREATE TABLE privacy_budget (release_id INTEGER, run_id INTEGER, created_at TIMESTAMP,
    epsilon DOUBLE, mechanism VARCHAR, what VARCHAR);
CREATE TABLE released_sets (set_id VARCHAR PRIMARY KEY, n_users BIGINT);
CREATE TABLE released_set_members (set_id VARCHAR, user_id VARCHAR);
CREATE TABLE study_releases (run_id INTEGER, "by" VARCHAR, grp VARCHAR, period VARCHAR,
    score VARCHAR, kind VARCHAR, set_id VARCHAR);
CREATE TABLE "emb$minilm$onnx-int8$0123456789$max1" (message_id VARCHAR PRIMARY KEY,
    vector FLOAT[3], n_windows INTEGER, n_tokens INTEGER, n_words INTEGER);
INSERT INTO predictions VALUES ('u1', 'age', 'age', 31.5, 25, 38, 400);
INSERT INTO released_sets VALUES ('s1', 12);
"""


def shape(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    """Every base table but the dynamic caches: its (column, type, null, key) in order."""
    names = [r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' AND "
        "table_type = 'BASE TABLE' AND table_name NOT LIKE 'emb$%' ORDER BY 1").fetchall()]
    return {t: [tuple(r[:4]) for r in con.execute(f'DESCRIBE "{t}"').fetchall()] for t in names}


def test_first_use_tables_upgrade_to_what_a_new_study_gets(tmp_path):
    old = Workspace.create(tmp_path / "old")
    old.db_path.unlink()
    with duckdb.connect(str(old.db_path)) as con:
        for sql in MIGRATIONS[:4]:
            con.execute(sql)
        con.execute("INSERT INTO meta VALUES ('schema_version', '4')")
        con.execute(FIRST_USE_DDL)
    old = Workspace.open(old.path)
    new = Workspace.create(tmp_path / "new")
    with old.connect() as a, new.connect() as b:
        assert shape(a) == shape(b)
        assert a.execute("SELECT user_id, value, model_hash FROM predictions").fetchall() == [
            ("u1", 31.5, None)]
        assert a.execute("SELECT * FROM released_sets").fetchall() == [("s1", 12)]
        assert a.execute("SELECT table_name, model, runtime, max_windows FROM embedding_caches"
                         ).fetchall() == [("emb$minilm$onnx-int8$0123456789$max1", "minilm",
                                           "onnx-int8", 1)]


def test_a_new_cache_is_listed_once(tmp_path):
    # an embedder is anything with these four attributes (features.embeddings.Embedder)
    emb = SimpleNamespace(name="minilm", runtime="onnx-fp32", runtime_id="onnx-fp32/x", dim=384)
    ws = Workspace.create(tmp_path / "s")
    with ws.connect() as con:
        tables = {create_cache(con, emb, 2) for _ in range(2)}
        rows = con.execute("SELECT table_name, model, runtime, max_windows, dim "
                           "FROM embedding_caches").fetchall()
    assert rows == [(cache_table(emb, 2), "minilm", "onnx-fp32", 2, 384)] and len(tables) == 1


def test_format_notes_move_to_ingest_files(study_at_schema):
    """Migration 10: the format an older build noted as 'read as format: x' becomes a row of
    ``ingest_files``; other notes stay notes, and the summary shows both."""
    from psyprofile.store.summary import workspace_summary

    ws, con = study_at_schema(9)
    con.execute("INSERT INTO ingest_runs VALUES (1, now(), now(), ['file-a'], '{}', 3, 3, 'done')")
    con.execute("INSERT INTO ingest_notes VALUES (1, 'file-a', 'read as format: telegram'), "
                "(1, 'file-a', 'language of 3 posts: 3 detected')")
    con.close()
    (run,) = workspace_summary(Workspace.open(ws.path))["runs"]
    assert run["formats"] == {"file-a": "telegram"}
    assert run["notes"] == ["language of 3 posts: 3 detected"]
