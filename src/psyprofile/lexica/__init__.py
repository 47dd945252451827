"""Lexicon loading (CSV, LIWC-style .dic, DLATK SQLite) and bundled lexica with licences."""
