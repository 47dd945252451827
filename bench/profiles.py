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

* every Big Five source (``--only big5``): the WWBP lexicon on all 1,000 bloggers, and the
  WWBP lexicon with both zero-shot embedders on the sample: split-half reliability per trait,
  agreement between the sources (Pearson r per trait), and each source's correlation with
  self-reported age against the direction the literature reports (conscientiousness and
  agreeableness higher with age, neuroticism lower: Soto et al. 2011, JPSP 100(2), 330-348;
  Roberts et al. 2006, Psych. Bull. 132(1), 1-25). It also rewrites the lexicon and VADER
  reference norms from the full corpus, percentiles within the study (``reference='study'``),
  keeping the zero-shot norms of the shipped file.

``--only embedders`` runs the embedder part alone, ``--only norms`` only rewrites the
reference norms, ``--only static`` profiles all bloggers with the static zero-shot embedder
and rewrites its norms (run it when the static table's recipe changes). Figures go to ``bench/out/profiles.json``, norms to
``bench/out/profiles_norms.json`` (copy it to ``src/psyprofile/profiles/norms_blogs.json``).
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
from psyprofile.profiles.spec import TRAITS  # noqa: E402

WORK = BENCH_CACHE / "profiles"
LEXICA = ["nrc_emot", "nrc_sent", "dd_permaV3", "dd_wassa16_affectInt", "dd_PastPreFut",
          "dd_emnlp14_ageGender"]
# sign of the trait's correlation with age in the literature (Soto et al. 2011; Roberts et al.
# 2006); traits without a clear direction in both are left out of the check
AGE_DIRECTION = {"conscientiousness": 1, "agreeableness": 1, "neuroticism": -1}
NORMS_FILE = Path(__file__).resolve().parents[1] / "src" / "psyprofile" / "profiles" / "norms_blogs.json"


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


def open_or_make(path: Path, users: list[int] | None, reuse: bool) -> tuple[object, dict[int, str]]:
    """The study at ``path`` as the last run left it (``reuse``: its features and caches are
    kept; the users are whatever it holds), else a fresh one (:func:`make_study`)."""
    from psyprofile.store.workspace import Workspace

    if not (reuse and (path / "study.duckdb").exists()):
        return make_study(path, users)
    ws = Workspace.open(path)
    pseudo = ws.pseudonymizer("user")
    return ws, {u: pseudo(str(u)) for u in blog_messages()["user_id"].unique().tolist()}


def static_spec():
    """The default profile with the static zero-shot embedder: the full model's 16 posts per
    user would take ~1.6 h for the 1,000 bloggers on this shared machine (5.9 s per user)."""
    from psyprofile.profiles.spec import default_spec

    return default_spec("wwbp,zeroshot", embedder="minilm-static")


def fisher_ci(r: float, n: int) -> list[float]:
    z, se = np.arctanh(r), 1.0 / np.sqrt(n - 3)
    return [float(np.tanh(z - 1.96 * se)), float(np.tanh(z + 1.96 * se))]


def validity(ws, ids: dict[int, str]) -> dict:
    """Age r and gender AUC of the lexicon estimates against the bloggers' own reports."""
    from sklearn.metrics import roc_auc_score

    from psyprofile.profiles.study import read_scores

    s = read_scores(ws)
    s = s[s["source"] != "wwbp_big5"]  # the zero-shot Big Five, as below
    s = s.pivot_table(index="user_id", columns="dimension", values="value")
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
    from psyprofile.profiles.spec import ProfileSpec
    from psyprofile.profiles.zeroshot import zeroshot_source

    rng = np.random.default_rng(1)
    all_users = sorted(blog_messages()["user_id"].unique().tolist())
    ws, ids = make_study(WORK / "sample", rng.choice(all_users, n_users, replace=False).tolist())
    from psyprofile.features.extract import FeatureOptions, extract_features

    extract_features(ws, FeatureOptions(level="message", ngrams=(1,)), progress=False)
    with ws.connect() as con:
        msgs = load_messages(con)
    keep = msgs.user_words() >= 500
    out: dict = {"users": int(keep.sum()), "messages_per_user_full": k}
    u = blog_users()
    age_of = dict(zip(u["user_id"].map(ids), u["age"].astype(float), strict=True))
    age = np.array([age_of.get(x, np.nan) for x in msgs.users])[keep]
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
        has_age = ~np.isnan(age)
        out[emb] = {"seconds": secs, "seconds_per_user": secs / len(msgs.users),
                    "words_per_user_median": float(np.median(sc.words[keep])),
                    "split_half": {t: [float(x) for x in v] for t, v in rel.items()},
                    "r_age": {t: float(np.corrcoef(raw[emb][has_age, j], age[has_age])[0, 1])
                              for j, t in enumerate(TRAITS)}}
    out["r_static_vs_full"] = {t: float(np.corrcoef(raw["minilm-static"][:, j], raw["minilm"][:, j])[0, 1])
                               for j, t in enumerate(TRAITS)}
    return out


def age_links(scores, ids: dict[int, str]) -> dict:
    """Per (source, trait): r with self-reported age (Fisher CI, n) and whether its sign is
    the one the literature reports."""
    u = blog_users()
    u["pid"] = u["user_id"].map(ids)
    age = u.dropna(subset=["pid", "age"]).set_index("pid")["age"].astype(float)
    out: dict = {}
    big5 = scores[scores["family"] == "big5"]
    for (src, trait), part in big5.groupby(["source", "dimension"]):
        v = part.set_index("user_id")["value"].dropna()
        both = v.index.intersection(age.index)
        r = float(np.corrcoef(v.loc[both], age.loc[both])[0, 1])
        want = AGE_DIRECTION.get(trait)
        out.setdefault(src, {})[trait] = {
            "r_age": r, "ci": fisher_ci(r, len(both)), "n": len(both),
            "expected_sign": want, "as_expected": None if want is None else bool(np.sign(r) == want)}
    return out


def agreement(scores) -> dict:
    """Per trait, Pearson r between every two Big Five sources over the users both scored."""
    big5 = scores[scores["family"] == "big5"]
    wide = big5.pivot_table(index="user_id", columns=["source", "dimension"], values="value")
    sources = sorted(big5["source"].unique())
    out: dict = {}
    for i, a in enumerate(sources):
        for b in sources[i + 1:]:
            out[f"{a} ~ {b}"] = {
                t: float(wide[[(a, t), (b, t)]].dropna().corr().iloc[0, 1]) for t in TRAITS}
    return out


def big5_full(reuse: bool = False) -> dict:
    """The WWBP lexicon (with every other bundled lexicon and VADER) on all bloggers:
    split-half reliability and r with age. Its run is the one the norms are written from."""
    from psyprofile.profiles.reliability import split_half
    from psyprofile.profiles.spec import default_spec
    from psyprofile.profiles.study import profile_study, read_scores

    out: dict = {}
    ws, ids = open_or_make(WORK / "study", None, reuse)
    spec = default_spec("wwbp")  # every bundled lexicon, VADER, WWBP Big Five
    t0 = time.perf_counter()
    rep = profile_study(ws, progress=False, spec=spec, reference="study")
    out["full"] = {"users": rep.scored, "seconds": time.perf_counter() - t0,
                   "sources": spec.sources()}
    sh = split_half(ws, progress=False, spec=spec)
    out["full"]["split_half"] = sh[sh["family"] == "big5"].round(4).to_dict(orient="records")
    out["full"]["split_half_all"] = sh.round(4).to_dict(orient="records")
    out["full"]["age"] = age_links(read_scores(ws), ids)
    return out


def big5_sample(n_sample: int, reuse: bool = False) -> dict:
    """The WWBP lexicon and both zero-shot embedders on a sample of bloggers: split-half
    reliability, agreement between the sources, r with age."""
    from dataclasses import replace

    import pandas as pd

    from psyprofile.profiles.reliability import split_half
    from psyprofile.profiles.spec import default_spec
    from psyprofile.profiles.study import profile_study, read_scores

    spec = default_spec("wwbp")
    rng = np.random.default_rng(1)
    users = sorted(blog_messages()["user_id"].unique().tolist())
    sample, sids = open_or_make(WORK / "big5_sample",
                                rng.choice(users, n_sample, replace=False).tolist(), reuse)
    wwbp = tuple(s for s in spec.lexica if s.lexicon == "wwbp_big5")
    parts, rel = [], []
    for emb in ("minilm-static", "minilm"):
        sp = replace(default_spec("wwbp,zeroshot", embedder=emb), lexica=wwbp, vader=False)
        profile_study(sample, progress=False, spec=sp, reference="study")
        sc, sh = read_scores(sample), split_half(sample, progress=False, spec=sp)
        if emb != "minilm-static":  # the WWBP scores once
            sc, sh = sc[sc["source"].str.startswith("zeroshot")], sh[sh["source"].str.startswith("zeroshot")]
        parts.append(sc)
        rel.append(sh)
    scores = pd.concat(parts, ignore_index=True)
    return {"users": int(scores["user_id"].nunique()),
            "split_half": pd.concat(rel).round(4).to_dict(orient="records"),
            "agreement": agreement(scores), "age": age_links(scores, sids)}


def write_norms(figures: dict) -> None:
    """Reference norms for percentiles (``bench/out/profiles_norms.json``, to be copied to
    ``src/psyprofile/profiles/norms_blogs.json``): the lexicon and VADER norms of the full
    study's latest run (percentiles within the study), and the zero-shot norms of the
    shipped file (their scoring did not change)."""
    from psyprofile.profiles.study import read_norms
    from psyprofile.store.workspace import Workspace

    ws = Workspace.open(WORK / "study")
    records = []
    for r in read_norms(ws).to_dict(orient="records"):
        r["quantiles"] = [float(x) for x in r["quantiles"]]
        records.append({**r, "reference": "blog corpus, 1,000 bloggers (DLATK tutorial)"})
    have = {(r["dimension"], r["source"]) for r in records}
    old = json.loads(NORMS_FILE.read_text())["dimensions"]
    records += [r for r in old if r["source"].startswith("zeroshot:")
                and (r["dimension"], r["source"]) not in have]
    out = {"reference": "blog authorship corpus, the DLATK tutorial's 1,000 bloggers "
                        "(bench/profiles.py)", "dimensions": records}
    (OUT_DIR / "profiles_norms.json").write_text(json.dumps(out, indent=1, default=float) + "\n")


def static_zeroshot() -> dict:
    """Profile all bloggers with the static zero-shot embedder (percentiles within the study)
    and rewrite the shipped norms' ``zeroshot:...:minilm-static`` records from that run (the
    other records as shipped): they depend on the static table, so a new recipe needs them
    anew. Returns the run's Big Five links with age and gender and its split-half reliability."""
    from psyprofile.profiles.reliability import split_half
    from psyprofile.profiles.study import profile_study, read_norms

    ws, ids = make_study(WORK / "static")
    t0 = time.perf_counter()
    profile_study(ws, progress=False, spec=static_spec(), reference="study")
    out = {"seconds": time.perf_counter() - t0, "big5_links": validity(ws, ids)["big5_links"]}
    sh = split_half(ws, progress=False, spec=static_spec())
    out["split_half"] = sh[sh["family"] == "big5"].round(4).to_dict(orient="records")
    fresh = [{**r, "quantiles": [float(x) for x in r["quantiles"]],
              "reference": "blog corpus, 1,000 bloggers"}
             for r in read_norms(ws).to_dict(orient="records")
             if r["source"].startswith("zeroshot:") and r["source"].endswith(":minilm-static")]
    shipped = json.loads(NORMS_FILE.read_text())
    kept = [r for r in shipped["dimensions"]
            if not (r["source"].startswith("zeroshot:") and r["source"].endswith(":minilm-static"))]
    (OUT_DIR / "profiles_norms.json").write_text(json.dumps(
        {**shipped, "dimensions": kept + fresh}, indent=1, default=float) + "\n")
    out["norms_rewritten"] = len(fresh)
    return out


def report_big5(b: dict) -> None:
    f, s = b["full"], b["sample"]
    print(f"Big Five sources: WWBP lexicon on {f['users']} bloggers ({f['seconds']:.0f} s for "
          f"the whole profile); all sources on a sample of {s['users']}")
    print("  split-half reliability (Spearman-Brown) [95% CI]:")
    for where, rows in (("all", f["split_half"]), ("sample", s["split_half"])):
        for r in rows:
            print(f"    {where:<6} {r['source']:<36} {r['dimension']:<18} {r['reliability']:>6.3f} "
                  f"[{r['ci_lo']:.3f}, {r['ci_hi']:.3f}] n {r['n_users']}")
    print("  agreement between sources (r per trait, sample):")
    for pair, rs in s["agreement"].items():
        print(f"    {pair}: " + ", ".join(f"{t[:5]} {v:+.2f}" for t, v in rs.items()))
    print("  r with self-reported age (literature: C +, A +, N -):")
    for where, links in (("all", f["age"]), ("sample", s["age"])):
        for src, traits in links.items():
            cells = [f"{t[:5]} {v['r_age']:+.2f}" + ("" if v["as_expected"] is None else
                                                       (" ok" if v["as_expected"] else " WRONG"))
                     for t, v in traits.items()]
            print(f"    {where:<6} {src:<36} " + ", ".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=["all", "embedders", "profile", "big5", "norms", "static"],
                    default="all",
                    help="'profile' reuses the embedder figures of the last run, 'norms' all "
                         "figures (and the studies) of the last run")
    ap.add_argument("--sample", type=int, default=80)
    ap.add_argument("--reuse", action="store_true",
                    help="--only big5: reuse the studies (and their caches) of the last run")
    args = ap.parse_args()
    figures: dict = {}
    prev = OUT_DIR / "profiles.json"
    if args.only != "all" and prev.exists():
        figures = json.loads(prev.read_text())
    if args.only == "static":
        figures["static_zeroshot"] = st = static_zeroshot()
        write_results("profiles", figures)
        print(f"static zero-shot on all bloggers: {st['seconds']:.0f} s; "
              f"{st['norms_rewritten']} norms rewritten in {OUT_DIR / 'profiles_norms.json'}")
        for t, v in st["big5_links"].items():
            print(f"  {t:<18} r age {v['r_age']:+.2f}  r female {v['r_female']:+.2f}")
        for r in st["split_half"]:
            print(f"  split-half {r['dimension']:<18} {r['reliability']:.3f} n {r['n_users']}")
        return
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
    if args.only in ("all", "big5"):
        figures["big5"] = big5_full(args.reuse)
    if args.only in ("all", "big5", "norms"):
        write_norms(figures)
    write_results("profiles", figures)  # kept if the sample below fails
    if args.only in ("all", "big5"):
        figures["big5"]["sample"] = big5_sample(args.sample, args.reuse)
        write_results("profiles", figures)
    if args.only == "big5":
        report_big5(figures["big5"])
        return
    report(figures)
    if "big5" in figures:
        report_big5(figures["big5"])


def report(f: dict) -> None:
    e = f["embedders"]
    print(f"zero-shot embedders on {e['users']} users (split-half reliability, Spearman-Brown):")
    print(f"  {'trait':<18} {'static, all text':>18} {'full, 16 posts':>16} {'r static~full':>14} "
          f"{'r age static':>13} {'r age full':>11}")
    for t, (rel, _, _) in e["minilm-static"]["split_half"].items():
        full = e["minilm"]["split_half"][t][0]
        print(f"  {t:<18} {rel:>18.3f} {full:>16.3f} {e['r_static_vs_full'][t]:>14.3f} "
              f"{e['minilm-static']['r_age'][t]:>+13.2f} {e['minilm']['r_age'][t]:>+11.2f}")
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
