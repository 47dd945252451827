"""The REST API (FastAPI) over the same functions the CLI calls."""
