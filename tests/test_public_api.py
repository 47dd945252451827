"""The curated Python API: every public name resolves, and importing it is light."""

from __future__ import annotations

import subprocess
import sys

import psyprofile


def test_every_public_name_resolves_to_its_owner():
    assert set(psyprofile.__all__) == {"__version__", *psyprofile._EXPORTS}
    for name in psyprofile.__all__:
        value = getattr(psyprofile, name)
        if name != "__version__":
            assert value.__module__ == psyprofile._EXPORTS[name], name
            assert value.__doc__, f"{name} needs a docstring"


def test_import_loads_nothing_heavy():
    code = ("import sys, psyprofile; heavy = {'torch', 'sentence_transformers', 'dask', "
            "'fastapi', 'duckdb', 'sklearn', 'pandas'} & set(sys.modules); print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "[]"
