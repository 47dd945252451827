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
    # 3: who may see a post ('followers' for semi-private posts, NULL = public); and no file
    # names: a data-donation file is often named after its donor, so sources are labels
    # (a keyed hash of the name, or a label the researcher chose). Names stored by earlier
    # builds become an unkeyed hash here (the key is not known to SQL), with the same prefix.
    """
    ALTER TABLE messages ADD COLUMN audience VARCHAR;
    UPDATE messages SET source = 'file-' || substr(sha256(source), 1, 12) WHERE source IS NOT NULL;
    UPDATE ingest_log SET file = 'file-' || substr(sha256(file), 1, 12) WHERE file IS NOT NULL;
    UPDATE ingest_rejects SET file = 'file-' || substr(sha256(file), 1, 12) WHERE file IS NOT NULL;
    UPDATE ingest_notes SET file = 'file-' || substr(sha256(file), 1, 12) WHERE file IS NOT NULL;
    UPDATE ingest_runs SET files = list_transform(files, lambda f: 'file-' || substr(sha256(f), 1, 12));
    """,
    # 4: profile runs kept side by side (profiles.study): every run has a run id, its spec and
    # sources; its scores (with the reference sample of their percentiles and the lexicon's
    # coverage), users (status, language mix) and norms are stored under that id. The old
    # single-run tables become run 1; profile_scores/_users/_norms are views of the latest run,
    # so readers that do not choose a run read the latest one.
    """
    CREATE TABLE IF NOT EXISTS profile_scores (user_id VARCHAR, family VARCHAR, dimension VARCHAR,
        value DOUBLE, lo DOUBLE, hi DOUBLE, pct DOUBLE, words BIGINT, source VARCHAR);
    CREATE TABLE IF NOT EXISTS profile_users (user_id VARCHAR, words BIGINT, status VARCHAR);
    CREATE TABLE IF NOT EXISTS profile_meta (key VARCHAR PRIMARY KEY, value VARCHAR);
    CREATE TABLE IF NOT EXISTS profile_norms (dimension VARCHAR, family VARCHAR, source VARCHAR,
        unit VARCHAR, transform VARCHAR, c DOUBLE, mean DOUBLE, sd DOUBLE, n BIGINT,
        reliability DOUBLE, quantiles DOUBLE[]);
    CREATE TABLE profile_runs (run_id INTEGER PRIMARY KEY, created_at TIMESTAMP, sources VARCHAR[],
        spec VARCHAR, min_words BIGINT, reference VARCHAR);
    INSERT INTO profile_runs SELECT 1, NULL, NULL, (SELECT value FROM profile_meta WHERE key = 'spec'),
        NULL, 'this study' WHERE EXISTS (SELECT 1 FROM profile_users);
    CREATE TABLE profile_run_scores AS SELECT 1::INTEGER AS run_id, user_id, family, dimension,
        value, lo, hi, pct, words, source, 'this study'::VARCHAR AS reference,
        NULL::DOUBLE AS coverage FROM profile_scores;
    CREATE TABLE profile_run_users AS SELECT 1::INTEGER AS run_id, user_id, words, status,
        NULL::VARCHAR AS languages, NULL::DOUBLE AS other_language_share FROM profile_users;
    CREATE TABLE profile_run_norms AS SELECT 1::INTEGER AS run_id, dimension, family, source, unit,
        transform, c, mean, sd, n, reliability, quantiles FROM profile_norms;
    DROP TABLE profile_scores;
    DROP TABLE profile_users;
    DROP TABLE profile_norms;
    DROP TABLE profile_meta;
    CREATE VIEW profile_scores AS SELECT * EXCLUDE (run_id) FROM profile_run_scores
        WHERE run_id = (SELECT max(run_id) FROM profile_runs);
    CREATE VIEW profile_users AS SELECT * EXCLUDE (run_id) FROM profile_run_users
        WHERE run_id = (SELECT max(run_id) FROM profile_runs);
    CREATE VIEW profile_norms AS SELECT * EXCLUDE (run_id) FROM profile_run_norms
        WHERE run_id = (SELECT max(run_id) FROM profile_runs);
    """,
    # 5: predictions told apart by the model's content and marked out-of-fold or applied;
    # the out-of-fold predictions a model's training made (predict hands them back to its
    # training users); value labels of outcome columns (e.g. gender 0 = male, 1 = female).
    """
    ALTER TABLE IF EXISTS predictions ADD COLUMN IF NOT EXISTS model_hash VARCHAR;
    ALTER TABLE IF EXISTS predictions ADD COLUMN IF NOT EXISTS fit VARCHAR;
    CREATE TABLE IF NOT EXISTS model_oof (
        model_hash VARCHAR NOT NULL, user_id VARCHAR NOT NULL, outcome VARCHAR NOT NULL, value DOUBLE
    );
    CREATE TABLE IF NOT EXISTS outcome_labels (
        outcome VARCHAR NOT NULL, value VARCHAR NOT NULL, label VARCHAR NOT NULL,
        PRIMARY KEY (outcome, value)
    );
    """,
    # 6: every DP value of a study states its noise (analysis.dp): the Laplace scale of a
    # group mean's noise and of its count's. Study tables were created on first use before.
    """
    CREATE TABLE IF NOT EXISTS study_groups (run_id INTEGER, "by" VARCHAR, grp VARCHAR,
        period VARCHAR, family VARCHAR, score VARCHAR, n_users BIGINT, n_posts BIGINT,
        mean DOUBLE, median DOUBLE, ci_lo DOUBLE, ci_hi DOUBLE, suppressed BOOLEAN, dp BOOLEAN);
    ALTER TABLE study_groups ADD COLUMN IF NOT EXISTS noise_scale DOUBLE;
    ALTER TABLE study_groups ADD COLUMN IF NOT EXISTS n_noise_scale DOUBLE;
    """,
    # 7: DLA results carry a bounded effect for binary outcomes (r, point-biserial) and a
    # readable label per feature (a topic's top words).
    """
    ALTER TABLE IF EXISTS dla_results ADD COLUMN IF NOT EXISTS r DOUBLE;
    ALTER TABLE IF EXISTS dla_results ADD COLUMN IF NOT EXISTS label VARCHAR;
    """,
    # 8: the schema in one place. The tables modules used to create on first use, with the
    # columns an upgraded workspace already has (migrations 5-7 included); docs/architecture.md
    # names each table's owner. Plus embedding_caches, the register of the per-model vector
    # caches (features.embeddings): caches made by earlier builds are registered by name.
    """
    CREATE TABLE IF NOT EXISTS lexica (
        name VARCHAR PRIMARY KEY, kind VARCHAR, weighted BOOLEAN, licence VARCHAR,
        citation VARCHAR, source VARCHAR, params JSON, created_at TIMESTAMP);
    CREATE TABLE IF NOT EXISTS profile_vader (message_id VARCHAR PRIMARY KEY, compound DOUBLE);
    CREATE TABLE IF NOT EXISTS survey_scales (
        inventory VARCHAR, scale VARCHAR, n_items INTEGER, max_missing INTEGER,
        n_scored BIGINT, mean DOUBLE, sd DOUBLE, n_complete BIGINT,
        alpha DOUBLE, alpha_lo DOUBLE, alpha_hi DOUBLE,
        omega DOUBLE, omega_lo DOUBLE, omega_hi DOUBLE,
        n_boot INTEGER, seed INTEGER, created_at TIMESTAMP);
    CREATE TABLE IF NOT EXISTS survey_flags (
        user_id VARCHAR, inventory VARCHAR, n_answered INTEGER, n_missing INTEGER,
        longstring INTEGER, even_odd DOUBLE, flag_longstring BOOLEAN,
        flag_even_odd BOOLEAN, careless BOOLEAN);
    CREATE TABLE IF NOT EXISTS predictions (
        user_id VARCHAR NOT NULL, model VARCHAR NOT NULL, outcome VARCHAR NOT NULL,
        value DOUBLE, lo DOUBLE, hi DOUBLE, words BIGINT, model_hash VARCHAR, fit VARCHAR);
    CREATE TABLE IF NOT EXISTS study_runs (run_id INTEGER, created_at TIMESTAMP, params VARCHAR,
        n_users BIGINT);
    CREATE TABLE IF NOT EXISTS study_comparisons (run_id INTEGER, "by" VARCHAR, score VARCHAR,
        group_a VARCHAR, group_b VARCHAR, effect VARCHAR, estimate DOUBLE, ci_lo DOUBLE,
        ci_hi DOUBLE, p DOUBLE, q DOUBLE);
    CREATE TABLE IF NOT EXISTS dla_runs (
        run_id INTEGER PRIMARY KEY, created_at TIMESTAMP, outcomes VARCHAR[], feature_sets VARCHAR,
        level VARCHAR, params JSON, summary JSON);
    CREATE TABLE IF NOT EXISTS dla_results (
        run_id INTEGER, level VARCHAR, feature_sets VARCHAR, outcome VARCHAR, feature VARCHAR,
        feature_set VARCHAR, coef DOUBLE, ci_lo DOUBLE, ci_hi DOUBLE, p DOUBLE,
        p_corrected DOUBLE, n BIGINT, odds_ratio DOUBLE, r DOUBLE, label VARCHAR);
    CREATE TABLE IF NOT EXISTS privacy_budget (release_id INTEGER, run_id INTEGER,
        created_at TIMESTAMP, epsilon DOUBLE, mechanism VARCHAR, what VARCHAR);
    CREATE TABLE IF NOT EXISTS released_sets (set_id VARCHAR PRIMARY KEY, n_users BIGINT);
    CREATE TABLE IF NOT EXISTS released_set_members (set_id VARCHAR, user_id VARCHAR);
    CREATE TABLE IF NOT EXISTS study_releases (run_id INTEGER, "by" VARCHAR, grp VARCHAR,
        period VARCHAR, score VARCHAR, kind VARCHAR, set_id VARCHAR);
    CREATE TABLE IF NOT EXISTS embedding_caches (
        table_name VARCHAR PRIMARY KEY, model VARCHAR, runtime VARCHAR, max_windows INTEGER,
        dim INTEGER, created_at TIMESTAMP);
    INSERT OR IGNORE INTO embedding_caches
        SELECT table_name, split_part(table_name, '$', 2), split_part(table_name, '$', 3),
            TRY_CAST(NULLIF(replace(split_part(table_name, '$', 5), 'max', ''), '') AS INTEGER),
            NULL, NULL
        FROM information_schema.tables
        WHERE table_schema = 'main' AND table_type = 'BASE TABLE' AND table_name LIKE 'emb$%';
    """,
    # 9: the language guard is per source (profiles.language): each profile user lists the
    # sources not built for their languages, which so gave them no score (NULL in older runs).
    """
    ALTER TABLE profile_run_users ADD COLUMN IF NOT EXISTS unsupported_sources VARCHAR[];
    CREATE OR REPLACE VIEW profile_users AS SELECT * EXCLUDE (run_id) FROM profile_run_users
        WHERE run_id = (SELECT max(run_id) FROM profile_runs);
    """,
    # 10: the format each file was read as gets its own table (io.ingest); it was an ingest
    # note with the prefix 'read as format: ', which every reader of the notes had to strip.
    """
    CREATE TABLE IF NOT EXISTS ingest_files (run_id INTEGER, file VARCHAR, format VARCHAR);
    INSERT INTO ingest_files SELECT run_id, file, substr(note, 17) FROM ingest_notes
        WHERE starts_with(note, 'read as format: ');
    DELETE FROM ingest_notes WHERE starts_with(note, 'read as format: ');
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)

# Column names of ``messages`` that a group column may not take.
RESERVED_COLUMNS = {
    "message_id", "post_key", "user_id", "created_at", "text", "lang", "source", "run_id", "audience",
}
