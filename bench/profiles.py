"""Benchmark of ``psyprofile profile`` on the blog corpus (1,000 bloggers, 31,674 posts).

Measures, in one run (``nice -n 5 python3 bench/profiles.py``):

* throughput of ``profile`` (users/s) with the static zero-shot embedder (the full model's
  cost per user is measured on the sample below): cold (message-level 1grams, lexica, VADER
  and static embeddings extracted from scratch) and warm (everything cached); DLATK's time
  to add the same six lexica to its 1gram table is printed next to it (DLATK has no profile
  command: extracting the lexica is the part of the work both do);
* the split-half reliability (odd vs even posts, Spearman-Brown) of every dimension;
* validity where the corpus allows: age estimate vs self-reported age (Pearson r, Fisher CI)
  and the gender estimate's AUC (bootstrap CI). The age/gender lexicon (Sap et al. 2014) was
  very likely trained partly on this corpus, so these figures are optimistic;
* the zero-shot embedders on a sample of users (``--sample``, default 80): static MiniLM on all
  text vs the full MiniLM on the first window of up to 16 posts per user: split-half
  reliability per trait, agreement between the two, seconds per user.

``--only embedders`` runs the last part alone, ``--only norms`` only rewrites the reference
norms. Figures go to ``bench/out/profiles.json``, norms to ``bench/out/profiles_norms.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # repo root, for `bench._dlatk`
import numpy as np  # noqa: E402

from bench._dlatk import (  # noqa: E402
    BENCH_CACHE,
    OUT_DIR,
    blog_messages,
    blog_users,
    make_dlatk_home,
    run_dlatk,
    write_results,
)

WORK = BENCH_CACHE / "profiles"
LEXICA = ["nrc_emot", "nrc_sent", "dd_permaV3", "dd_wassa16_affectInt", "dd_PastPreFut",
          "dd_emnlp14_ageGender"]


def make_study(path: Path, users: list[int] | None = None) -> tuple[object, dict[str, int]]:
    """A fresh study of the blog posts (of ``users``, default all) and raw id -> pseudonym."""
    from psyprofile.io.base import ColumnMap
    from psyprofile.io.ingest import ingest
    from psyprofile.store.workspace import Workspace

    shutil.rmtree(path, ignore_errors=True)
    ws = Workspace.create(path)
    df = blog_messages()
    if users is not None:
        df = df[df["user_id"].isin(users)]
    csv = path / "posts.csv"
    df.to_csv(csv, index=False)
    ingest(ws, [csv], columns=ColumnMap(text="message", user="user_id", time="created_time",
                                        id="message_id"), progress=False)
    pseudo = ws.pseudonymizer("user")
    return ws, {u: pseudo(str(u)) for u in df["user_id"].unique().tolist()}


def static_spec():
    """The default profile with the static zero-shot embedder: the full model's 16 posts per
    user would take ~1.6 h for the 1,000 bloggers on this shared machine (5.9 s per user)."""
    from psyprofile.profiles.spec import default_spec

    return default_spec(embedder="minilm-static")


def fisher_ci(r: float, n: int) -> list[float]:
    z, se = np.arctanh(r), 1.0 / np.sqrt(n - 3)
    return [float(np.tanh(z - 1.96 * se)), float(np.tanh(z + 1.96 * se))]


def validity(ws, ids: dict[int, str]) -> dict:
    """Age r and gender AUC of the lexicon estimates against the bloggers' own reports."""
    from sklearn.metrics import roc_auc_score

    from psyprofile.profiles.study import read_scores

    s = read_scores(ws).pivot_table(index="user_id", columns="dimension", values="value")
    u = blog_users()
    u["pid"] = u["user_id"].map(ids)
    est = s[["age", "gender_female"]].rename(columns={"age": "age_est", "gender_female": "p_female"})
    u = u.dropna(subset=["pid"]).set_index("pid").join(est, how="inner")
    age = u.dropna(subset=["age"])
    r = float(np.corrcoef(age["age"].astype(float), age["age_est"])[0, 1])
    g = u.dropna(subset=["gender"])
    # users.csv codes gender 1 = female, 0 = male (as DLATK's tutorial outcomes)
    y = (g["gender"].astype(float) == 1).astype(int).to_numpy()
    p = g["p_female"].to_numpy()
    auc = float(roc_auc_score(y, p))
    rng = np.random.default_rng(0)
    boots = []
    for _ in range(2000):
        i = rng.integers(0, len(y), len(y))
        if 0 < y[i].sum() < len(i):
            boots.append(roc_auc_score(y[i], p[i]))
    # A face-validity look at the zero-shot Big Five: known small links with age and gender
    big5 = ["openness", "conscientiousness", "extraversion", "agreeableness", "neuroticism"]
    z = s.loc[u.index, big5]
    links = {t: {"r_age": float(np.corrcoef(age["age"].astype(float), z.loc[age.index, t])[0, 1]),
                 "r_female": float(np.corrcoef(y, z.loc[g.index, t])[0, 1])} for t in big5}
    return {"big5_links": links, "age_r": r, "age_r_ci": fisher_ci(r, len(age)), "age_n": len(age),
            "gender_auc": auc, "gender_auc_ci": [float(x) for x in np.percentile(boots, [2.5, 97.5])],
            "gender_n": len(g),
            "note": "optimistic: the age/gender lexicon was very likely trained partly on this corpus"}


def throughput(ws) -> dict:
    from psyprofile.profiles.study import profile_study

    t0 = time.perf_counter()
    rep = profile_study(ws, progress=False, spec=static_spec())
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    profile_study(ws, progress=False, spec=static_spec())
    warm = time.perf_counter() - t0
    users = rep.scored + rep.insufficient_text
    return {"users": users, "scored": rep.scored, "insufficient_text": rep.insufficient_text,
            "cold_seconds": cold, "warm_seconds": warm, "cold_users_per_s": users / cold,
            "warm_users_per_s": users / warm}


def dlatk_lexica() -> dict:
    """DLATK's time to build 1grams and add the six lexica (weighted where they are)."""
    with tempfile.TemporaryDirectory() as scratch:
        home = make_dlatk_home(Path(scratch))
        ng = run_dlatk(["--add_ngrams", "-n", "1"], home)["seconds"]
        lex = 0.0
        for name in LEXICA:
            args = ["--add_lex_table", "-l", name]
            if name != "nrc_emot":
                args.append("--weighted_lexicon")
            lex += run_dlatk(args, home)["seconds"]
    return {"ngrams_seconds": ng, "lexica_seconds": lex}


def embedders(n_users: int, k: int = 16) -> dict:
    """Zero-shot scores from static MiniLM on all text vs the full model on k posts per user."""
    from psyprofile.profiles.scoring import score_source, split_half_stats
    from psyprofile.profiles.sources import load_messages
    from psyprofile.profiles.spec import TRAITS, ProfileSpec
    from psyprofile.profiles.zeroshot import zeroshot_source

    rng = np.random.default_rng(1)
    all_users = sorted(blog_messages()["user_id"].unique().tolist())
    ws, _ = make_study(WORK / "sample", rng.choice(all_users, n_users, replace=False).tolist())
    from psyprofile.features.extract import extract_features

    extract_features(ws, level="message", ngrams=(1,), progress=False)
    with ws.connect() as con:
        msgs = load_messages(con)
    keep = msgs.user_words() >= 500
    out: dict = {"users": int(keep.sum()), "messages_per_user_full": k}
    raw = {}
    for emb in ("minilm-static", "minilm"):
        spec = ProfileSpec(lexica=(), vader=False, embedder=emb, max_messages=k)
        t0 = time.perf_counter()
        src = zeroshot_source(ws, msgs, spec, progress=True)
        secs = time.perf_counter() - t0
        sc = score_source(src, msgs, keep)
        raw[emb] = sc.raw[keep]
        rel = {t: split_half_stats(sc.halves[keep, 0, j], sc.halves[keep, 1, j])[2:]
               for j, t in enumerate(TRAITS)}
        out[emb] = {"seconds": secs, "seconds_per_user": secs / len(msgs.users),
                    "words_per_user_median": float(np.median(sc.words[keep])),
                    "split_half": {t: [float(x) for x in v] for t, v in rel.items()}}
    out["r_static_vs_full"] = {t: float(np.corrcoef(raw["minilm-static"][:, j], raw["minilm"][:, j])[0, 1])
                               for j, t in enumerate(TRAITS)}
    return out


def write_norms(figures: dict) -> None:
    """Reference norms for ``profile_texts`` (``bench/out/profiles_norms.json``, copied to
    ``src/psyprofile/profiles/norms_blogs.json``): the full study's ``profile_norms`` (static
    zero-shot embedder), plus the full-model zero-shot norms of the embedder sample."""
    from psyprofile.profiles.spec import ProfileSpec
    from psyprofile.profiles.study import profile_study
    from psyprofile.store.workspace import Workspace

    sample = Workspace.open(WORK / "sample")
    profile_study(sample, progress=False, spec=ProfileSpec(lexica=(), vader=False))
    records = []
    for ws, ref in ((Workspace.open(WORK / "study"), "blog corpus, 1,000 bloggers"),
                    (sample, f"blog corpus, {figures['embedders']['users']} random bloggers")):
        with ws.connect() as con:
            for r in con.execute("SELECT * FROM profile_norms").df().to_dict(orient="records"):
                r["quantiles"] = [float(x) for x in r["quantiles"]]
                records.append({**r, "reference": ref})
    v = figures["validity"]
    out = {"reference": "blog authorship corpus (bench/profiles.py)", "dimensions": records,
           "validity": {"age": {"r_self_reported_age": v["age_r"], "ci": v["age_r_ci"],
                                "note": v["note"]},
                        "gender_female": {"auc_self_reported_gender": v["gender_auc"],
                                          "ci": v["gender_auc_ci"], "note": v["note"]}}}
    (OUT_DIR / "profiles_norms.json").write_text(json.dumps(out, indent=1, default=float) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=["all", "embedders", "profile", "norms"], default="all",
                    help="'profile' reuses the embedder figures of the last run, 'norms' all "
                         "figures (and the studies) of the last run")
    ap.add_argument("--sample", type=int, default=80)
    args = ap.parse_args()
    figures: dict = {}
    prev = OUT_DIR / "profiles.json"
    if args.only != "all" and prev.exists():
        figures = json.loads(prev.read_text())
    if args.only in ("all", "embedders"):
        figures["embedders"] = embedders(args.sample)
    if args.only in ("all", "profile"):
        from psyprofile.profiles.reliability import split_half

        ws, ids = make_study(WORK / "study")
        figures["throughput"] = throughput(ws)
        figures["split_half"] = split_half(ws, progress=False, spec=static_spec()).round(4).to_dict(
            orient="records")
        figures["validity"] = validity(ws, ids)
        figures["dlatk"] = dlatk_lexica()
    if args.only != "embedders":
        write_norms(figures)
    write_results("profiles", figures)
    report(figures)


def report(f: dict) -> None:
    e = f["embedders"]
    print(f"zero-shot embedders on {e['users']} users (split-half reliability, Spearman-Brown):")
    print(f"  {'trait':<18} {'static, all text':>18} {'full, 16 posts':>16} {'r static~full':>14}")
    for t, (rel, _, _) in e["minilm-static"]["split_half"].items():
        full = e["minilm"]["split_half"][t][0]
        print(f"  {t:<18} {rel:>18.3f} {full:>16.3f} {e['r_static_vs_full'][t]:>14.3f}")
    print(f"  seconds per user: static {e['minilm-static']['seconds_per_user']:.2f}, "
          f"full {e['minilm']['seconds_per_user']:.2f}")
    if "throughput" not in f:
        return
    t, d = f["throughput"], f["dlatk"]
    print(f"profile: {t['users']} users, {t['scored']} scored; cold {t['cold_seconds']:.1f} s "
          f"({t['cold_users_per_s']:.1f} users/s), warm {t['warm_seconds']:.1f} s "
          f"({t['warm_users_per_s']:.1f} users/s)")
    print(f"DLATK 1grams + six lexica: {d['ngrams_seconds'] + d['lexica_seconds']:.1f} s "
          f"(ratio to psyprofile's cold profile: {(d['ngrams_seconds'] + d['lexica_seconds']) / t['cold_seconds']:.2f})")
    print(f"{'family':<10} {'dimension':<18} {'n':>5} {'r halves':>9} {'reliab.':>8} {'95% CI':>16}")
    for r in f["split_half"]:
        print(f"{r['family']:<10} {r['dimension']:<18} {r['n_users']:>5} {r['r_halves']:>9.3f} "
              f"{r['reliability']:>8.3f}   [{r['ci_lo']:.3f}, {r['ci_hi']:.3f}]")
    v = f["validity"]
    print(f"age r {v['age_r']:.3f} [{v['age_r_ci'][0]:.3f}, {v['age_r_ci'][1]:.3f}] (n {v['age_n']}); "
          f"gender AUC {v['gender_auc']:.3f} [{v['gender_auc_ci'][0]:.3f}, {v['gender_auc_ci'][1]:.3f}] "
          f"(n {v['gender_n']}); {v['note']}")


if __name__ == "__main__":
    main()
