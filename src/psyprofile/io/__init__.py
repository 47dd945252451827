"""Readers for every input format, schema checks with clear errors, and ingestion."""
