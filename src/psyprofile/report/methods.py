"""The report's methods section: software versions and the parameters of what was actually run."""

from __future__ import annotations

import json
import platform
from importlib import metadata
from typing import Any

# Libraries whose version changes results (numbers, models, charts); read from package metadata
# so that none of them has to be imported.
KEY_LIBRARIES = ("psyprofile", "numpy", "pandas", "scipy", "scikit-learn", "statsmodels", "duckdb",
                 "pyarrow", "matplotlib", "wordcloud", "vaderSentiment", "sentence-transformers",
                 "torch", "jinja2")


def versions() -> list[tuple[str, str]]:
    """(name, version) of Python and every installed key library; missing ones are left out."""
    out = [("python", platform.python_version())]
    for name in KEY_LIBRARIES:
        try:
            out.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            continue
    return out


def pretty(value: Any) -> str:
    """Parameters as indented JSON (sorted keys) for a ``<pre>`` block."""
    return json.dumps(value, indent=1, sort_keys=True, default=str)
