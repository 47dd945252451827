"""The study workspace's DuckDB schema, as an ordered list of migrations.

A workspace records the schema version it was built with; opening it applies the
migrations it has not seen yet, and refuses a workspace from a newer psyprofile.
Append a migration to change the schema; never edit one that has shipped.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: posts, their provenance, and what ingestion skipped.
    """
    CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR);
    CREATE TABLE messages (
        message_id VARCHAR NOT NULL,   -- keyed hash of the source id (or of the post content)
        post_key   VARCHAR NOT NULL,   -- keyed hash of (user, time, text): dedupes exact repeats
        user_id    VARCHAR NOT NULL,   -- keyed hash of the source user id
        created_at TIMESTAMP,          -- UTC
        text       VARCHAR NOT NULL,
        lang       VARCHAR,
        source     VARCHAR,            -- file name the post came from
        run_id     INTEGER
    );
    CREATE TABLE raw_ids (user_id VARCHAR PRIMARY KEY, raw_user_id VARCHAR NOT NULL);
    CREATE SEQUENCE ingest_run_seq START 1;
    CREATE TABLE ingest_runs (
        run_id      INTEGER PRIMARY KEY,
        started_at  TIMESTAMP NOT NULL,
        finished_at TIMESTAMP,
        files       VARCHAR[],
        options     JSON,
        rows_read   BIGINT,
        rows_stored BIGINT,
        status      VARCHAR
    );
    -- one row per (run, file, reason): every row read is counted under exactly one reason,
    -- 'stored' included, so per file the counts add up to the rows read.
    CREATE TABLE ingest_log (run_id INTEGER, file VARCHAR, reason VARCHAR, count BIGINT);
    -- examples of rejected rows (capped per file and reason) so a user can find and fix them.
    CREATE TABLE ingest_rejects (run_id INTEGER, file VARCHAR, row_number BIGINT, reason VARCHAR, detail VARCHAR);
    -- notes about a file as a whole (encoding fallback, format detected).
    CREATE TABLE ingest_notes (run_id INTEGER, file VARCHAR, note VARCHAR);
    -- extra per-message columns (region, community, ...) usable as group levels.
    CREATE TABLE group_columns (name VARCHAR PRIMARY KEY);
    """,
    # 2: the registry of feature tables (features.store) and how much text each group has.
    """
    CREATE TABLE IF NOT EXISTS feature_sets (
        name VARCHAR NOT NULL, level VARCHAR NOT NULL, kind VARCHAR NOT NULL,
        params JSON, n_features BIGINT, n_groups BIGINT, n_rows BIGINT, created_at TIMESTAMP,
        PRIMARY KEY (name, level)
    );
    CREATE TABLE IF NOT EXISTS group_words (
        level VARCHAR NOT NULL, group_id VARCHAR NOT NULL, messages BIGINT, words BIGINT,
        PRIMARY KEY (level, group_id)
    );
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)

# Column names of ``messages`` that a group column may not take.
RESERVED_COLUMNS = {"message_id", "post_key", "user_id", "created_at", "text", "lang", "source", "run_id"}
