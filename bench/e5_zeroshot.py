"""Zero-shot Big Five with ``--embedder e5-multilingual``: its embedding cost on blog posts
against the default zero-shot embedder in the same run, and what blog norms for it would cost.

One command (``nice -n 10 python3 bench/e5_zeroshot.py [--posts 48] [--seed 1]``):

* ``--posts`` random posts of the blog corpus (``../shared/data/blogs``), and the first 20
  words of each as short posts, embedded as the zero-shot source embeds them: e5 whole posts
  (every 510-token window), the default ``minilm`` its first 254-wordpiece window; posts/s
  and tokens/s of each, and e5's ratio to ``minilm``;
* the zero-shot sample of every blogger (up to 16 posts each, as ``ProfileSpec.max_messages``)
  counted in e5 tokens, and the hours e5 would take to embed it at the measured long-post
  token rate: the cost of blog norms for ``zeroshot:...:e5-multilingual``, which the shipped
  ``norms_blogs.json`` therefore lacks (its z is within the study, ``profile_texts`` gives the
  raw similarity).

Figures go to ``bench/out/e5_zeroshot.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root, for `bench._dlatk`
import numpy as np  # noqa: E402

from bench._dlatk import OUT_DIR, blog_messages  # noqa: E402

SHORT_WORDS = 20
K = 16  # ProfileSpec.max_messages, the zero-shot sample per user


def rate(emb, texts: list[str]) -> dict:
    """Posts/s and tokens/s of ``emb`` embedding ``texts`` (one timed pass after a warm-up)."""
    emb.embed(texts[:2])
    t0 = time.perf_counter()
    e = emb.embed(texts)
    s = time.perf_counter() - t0
    tokens = int(e.n_tokens.sum())
    return {"seconds": s, "posts_per_s": len(texts) / s, "tokens": tokens,
            "tokens_per_s": tokens / s, "mean_tokens": tokens / len(texts),
            "mean_windows": float(e.n_windows.mean())}


def sample_tokens(model) -> tuple[int, int]:
    """(posts, e5 tokens) of every blogger's zero-shot sample: up to :data:`K` posts per user,
    evenly spread over their posts in time order."""
    msgs = blog_messages().sort_values(["user_id", "created_time", "message_id"])
    posts = []
    for _, g in msgs.groupby("user_id"):
        idx = np.arange(len(g))
        if len(idx) > K:
            idx = idx[np.linspace(0, len(idx) - 1, K).round().astype(int)]
        posts += g["message"].astype(str).iloc[idx].tolist()
    return len(posts), sum(model.token_count(t, True) - 2 for t in posts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posts", type=int, default=48)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    from psyprofile.features.embeddings import get_embedder
    from psyprofile.features.multilingual import load_e5
    from psyprofile.profiles.zeroshot import EMBEDDING

    posts = blog_messages()["message"].astype(str)
    posts = posts[posts.str.split().str.len() >= SHORT_WORDS]
    long = posts.sample(args.posts, random_state=args.seed).tolist()
    short = [" ".join(t.split()[:SHORT_WORDS]) for t in long]
    embedders = {"e5-multilingual": get_embedder(
                     "e5-multilingual", max_windows=EMBEDDING["e5-multilingual"].max_windows),
                 "minilm": get_embedder("minilm", max_windows=EMBEDDING["minilm"].max_windows)}
    out: dict = {"posts": args.posts, "seed": args.seed, "cpus": os.cpu_count(),
                 "load": os.getloadavg()[0], "runtimes": {}}
    for name, emb in embedders.items():
        out["runtimes"][name] = {"runtime": emb.runtime_id, "short": rate(emb, short),
                                 "long": rate(emb, long)}
    e5, ml = out["runtimes"]["e5-multilingual"], out["runtimes"]["minilm"]
    n_posts, n_tokens = sample_tokens(load_e5())
    hours = n_tokens / e5["long"]["tokens_per_s"] / 3600
    out["norms_sample"] = {"posts": n_posts, "e5_tokens": n_tokens, "e5_hours": hours}
    (OUT_DIR / "e5_zeroshot.json").write_text(json.dumps(out, indent=1) + "\n")
    print(f"{args.posts} blog posts (seed {args.seed}), load {out['load']:.1f} on "
          f"{out['cpus']} cores; as the zero-shot source embeds them:")
    for kind in ("short", "long"):
        a, b = e5[kind], ml[kind]
        print(f"  {kind:<5} e5 {a['posts_per_s']:6.2f} posts/s ({a['mean_tokens']:.0f} tokens, "
              f"{a['mean_windows']:.2f} windows)  minilm first window {b['posts_per_s']:6.2f} "
              f"posts/s  ratio e5/minilm {a['posts_per_s'] / b['posts_per_s']:.2f}x")
    print(f"  blog norms: the zero-shot sample of 1,000 bloggers is {n_posts:,} posts, "
          f"{n_tokens:,} e5 tokens: about {hours:.1f} h of e5 at the long-post rate")


if __name__ == "__main__":
    main()
