"""Load test of ``POST /v1/profile`` on loopback: requests/s and latency percentiles.

A real ``psyprofile serve`` runs in a subprocess over a fresh study; ``--clients`` async
clients (httpx) send, back to back for ``--seconds``, the 50 posts of one blogger each
(users of the DLATK blog corpus with >= 50 posts, cycled). Figures go to
``bench/out/api.json``, with the baseline of ``profile_texts`` called in-process one
user after another (``api_vs_direct_serial_throughput`` > 1: the server's concurrency pays
for its HTTP overhead). There is no DLATK counterpart: DLATK has no service.

    python3 bench/api.py                      # 30 s, 8 clients, the service defaults (a worker per CPU)
    python3 bench/api.py --big5 zeroshot --embedder minilm-static   # zero-shot Big Five, static
    python3 bench/api.py --spec fixture       # small lexicon files only (no download)

``first_request_s`` is the cold start: from the server answering ``/healthz`` to the first
profile, i.e. the one build of every model (the server starts it in the background and the
first requests wait for it; see docs/api.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # repo root, for `bench._dlatk`
from bench._dlatk import blog_messages, write_results  # noqa: E402
from psyprofile.api.keys import create_key  # noqa: E402
from psyprofile.api.local import LocalServer  # noqa: E402
from psyprofile.engine import usable_cpus  # noqa: E402
from psyprofile.store.workspace import Workspace  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures" / "api"


def load_users(n_messages: int, max_users: int = 200) -> list[list[str]]:
    """Up to ``max_users`` bloggers' first ``n_messages`` posts (bloggers with that many)."""
    df = blog_messages()[["user_id", "message"]]
    df = df[df["message"].str.strip() != ""]
    groups = [g["message"].tolist()[:n_messages] for _, g in df.groupby("user_id", sort=True)
              if len(g) >= n_messages]
    return groups[:max_users]


def make_study(folder: Path, spec: str, big5: str | None = None,
               embedder: str | None = None) -> str:
    """A study served with ``spec`` ('default' or 'fixture') and, if given, the Big Five
    source ``big5`` and zero-shot ``embedder``; returns an API key."""
    Workspace.create(folder)
    api = folder / "api"
    api.mkdir()
    limits = "[limits]\nmax_body_bytes = 16777216\n"
    if spec == "fixture":
        for f in FIXTURES.glob("*.csv"):
            shutil.copy(f, api / f.name)
        profile = ('[profile]\nbig5 = "none"\nvader = false\n[profile.lexica]\n'
                   'nrc_emot = "nrc_emot.csv"\ndd_emnlp14_ageGender = "dd_emnlp14_ageGender.csv"\n')
    else:
        profile = "[profile]\n" + "".join(f'{k} = "{v}"\n' for k, v in (
            ("big5", big5), ("embedder", embedder)) if v)
    (api / "config.toml").write_text(profile + limits)
    return create_key(folder, "bench")[0]


def direct_seconds(study: Path, users: list[list[str]]) -> float:
    """Mean seconds of one in-process ``profile_texts`` call (same spec, warm, serial)."""
    from psyprofile.api.service import Service

    service = Service.open(study)
    service.profile(users[0], None)  # warm-up: lexica and models load once
    t0 = time.perf_counter()
    for u in users:
        service.profile(u, None)
    return (time.perf_counter() - t0) / len(users)


async def _client(url: str, token: str, users: list[list[str]], start: int, stride: int,
                  until: float, lat: list[float], errors: dict[int, int]) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=300,
                                 headers={"Authorization": f"Bearer {token}"}) as c:
        i = start
        while True:  # at least one request each, so a zero-second run warms the server up
            t0 = time.perf_counter()
            r = await c.post("/v1/profile", json={"texts": users[i % len(users)]})
            if r.status_code == 200:
                lat.append(time.perf_counter() - t0)
            else:
                errors[r.status_code] = errors.get(r.status_code, 0) + 1
            i += stride
            if time.perf_counter() >= until:
                return


async def load(url: str, token: str, users: list[list[str]], seconds: float,
               clients: int) -> tuple[list[float], dict[int, int], float]:
    """Run the clients; returns (latencies in s of 200 answers, error counts, wall seconds)."""
    lat: list[float] = []
    errors: dict[int, int] = {}
    t0 = time.perf_counter()
    until = t0 + seconds
    await asyncio.gather(*(_client(url, token, users, k, clients, until, lat, errors)
                           for k in range(clients)))
    return lat, errors, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--messages", type=int, default=50, help="posts per user")
    ap.add_argument("--spec", choices=["default", "fixture"], default="default")
    ap.add_argument("--big5", default=None,
                    help="Big Five source of the default spec, e.g. zeroshot (default: the "
                         "service's)")
    ap.add_argument("--embedder", default=None,
                    help="zero-shot embedder of the default spec (default: the service's)")
    ap.add_argument("--workers", type=int, default=None,
                    help="the server's worker processes for profiles (serve --workers; "
                         "default: the service's, one per usable CPU)")
    ap.add_argument("--direct", type=int, default=3,
                    help="users profiled in-process, one after another, as the baseline")
    args = ap.parse_args()

    users = load_users(args.messages)
    words = [sum(len(m.split()) for m in u) for u in users]
    print(f"{len(users)} users of {args.messages} posts (median {int(np.median(words))} words)")
    with tempfile.TemporaryDirectory(prefix="psyprofile-bench-api-") as tmp:
        study = Path(tmp) / "study"
        token = make_study(study, args.spec, args.big5, args.embedder)
        workers = args.workers if args.workers is not None else usable_cpus()
        with LocalServer(study, extra_args=("--no-jobs", "--workers", str(workers)),
                         startup_seconds=300) as srv:
            # Warm-up: every worker loads the lexica and models once.
            t0 = time.perf_counter()
            warm = asyncio.run(load(srv.url, token, users[:1], 0.0, max(workers, 1)))
            first = time.perf_counter() - t0
            if warm[1]:
                raise SystemExit(f"warm-up request failed: {warm[1]}; see {srv.log_path}")
            lat, errors, wall = asyncio.run(load(srv.url, token, users, args.seconds, args.clients))
        direct = direct_seconds(study, users[:args.direct])
    ms = np.array(lat) * 1000
    res = {
        "endpoint": "POST /v1/profile", "spec": args.spec, "big5": args.big5,
        "embedder": args.embedder,
        "clients": args.clients, "first_request_s": round(first, 1),
        "workers": workers,
        "seconds": round(wall, 2), "messages_per_user": args.messages,
        "median_words_per_user": int(np.median(words)), "requests_ok": len(lat),
        "errors": {str(k): v for k, v in errors.items()},
        "requests_per_s": round(len(lat) / wall, 3),
        "direct_profile_texts_s": round(direct, 3),
        "api_vs_direct_serial_throughput": round(len(lat) / wall * direct, 2),
        "latency_ms": {p: round(float(np.percentile(ms, q)), 1) if len(ms) else None
                       for p, q in (("p50", 50), ("p95", 95), ("p99", 99))},
        "command": "python3 bench/api.py " + " ".join(
            f"--{k} {v}" for k, v in vars(args).items()),
    }
    print(json.dumps(res, indent=1))
    print(f"wrote {write_results('api', res)}")


if __name__ == "__main__":
    main()
