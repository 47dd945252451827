"""The study workspace: DuckDB schema, migrations, reading and writing tables."""
