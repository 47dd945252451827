"""The core install works without the heavy extras, and a missing extra is one clear message.

A fresh venv per test run would take minutes, so the extras' packages are made unimportable
in a child interpreter instead (a meta-path finder that refuses them, as if never
installed), and the real commands run there.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from psyprofile.extras import MODULES

FIXTURES = Path(__file__).parent / "fixtures"
EXTRA_MODULES = tuple(m for modules in MODULES.values() for m in modules)


def blocking(modules: tuple[str, ...]) -> str:
    """Python source that makes ``modules`` (and their submodules) unimportable, as if never
    installed; ``BLOCKED`` holds their names."""
    return textwrap.dedent(f"""
        import sys
        BLOCKED = {modules!r}

        class NotInstalled:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
                return None

        sys.meta_path.insert(0, NotInstalled())
    """)


PRELUDE = blocking(EXTRA_MODULES) + "from psyprofile.cli.main import cli\n"


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    code = PRELUDE + f"sys.exit(cli.main({list(args)!r}, standalone_mode=True))\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)


def test_core_ingests_and_extracts_ngrams_and_lexica_without_extras(tmp_path):
    study = str(tmp_path / "s")
    assert run_cli(tmp_path, "init", study).returncode == 0
    r = run_cli(tmp_path, "ingest", study, str(FIXTURES / "io" / "posts.csv"))
    assert r.returncode == 0, r.stderr
    r = run_cli(tmp_path, "features", study, "--ngrams", "1", "--lexicon",
                str(FIXTURES / "lexica" / "weighted.csv"), "--quiet")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    for name in EXTRA_MODULES:
        assert f"No module named '{name}'" not in r.stderr
    # exports and their codebooks need no extra either
    r = run_cli(tmp_path, "export", study, "features", "--set", "1gram", "--wide", "--out",
                str(tmp_path / "w.csv"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "w.codebook.csv").is_file()


def test_profiles_and_studies_import_without_extras(tmp_path):
    code = PRELUDE + ("import psyprofile.profiles.study, psyprofile.profiles.export, "
                      "psyprofile.analysis.groups, psyprofile.analysis.dla\n"
                      "print(sorted(m for m in sys.modules if m.split('.')[0] in BLOCKED))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=tmp_path, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


@pytest.mark.parametrize(("args", "extra"), [
    (("features", "{study}", "--embeddings", "minilm", "--quiet"), "embeddings"),
    (("serve", "{study}"), "api"),
    (("report", "{study}", "--out", "r.html", "--quiet"), "report"),
])
def test_a_missing_extra_is_one_message_naming_it(tmp_path, args, extra):
    study = str(tmp_path / "s")
    run_cli(tmp_path, "init", study)
    run_cli(tmp_path, "ingest", study, str(FIXTURES / "io" / "posts.csv"))
    r = run_cli(tmp_path, *(a.format(study=study) for a in args))
    assert r.returncode != 0
    assert f"pip install 'psyprofile[{extra}]'" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("runtime", ["torch-fp32", "torch-bf16"])
def test_a_torch_runtime_without_torch_names_the_reference_extra(runtime):
    pytest.importorskip("onnxruntime")
    code = blocking(("torch", "transformers", "sentence_transformers")) + textwrap.dedent(f"""
        from psyprofile.extras import MissingExtra
        from psyprofile.features import embeddings as E
        print(E.choose_runtime())
        try:
            E.MiniLM({runtime!r})
        except MissingExtra as exc:
            print(exc)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    chosen, message = r.stdout.splitlines()
    assert chosen == "onnx-int8"
    assert "torch reference runtimes" in message
    assert "pip install 'psyprofile[reference]'" in message
