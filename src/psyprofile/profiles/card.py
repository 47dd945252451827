"""One user's profile as a plain-text card (``psyprofile profile STUDY --user ID``).

Each score is a bar over the study's range of that dimension (its 1st to 99th percentile):
``=`` spans the 95% interval, ``|`` marks the value. ``--explain`` adds, per score, what
pushed it up and down most: for lexicon scores the words (weight × the user's relative
frequency of the word, i.e. its share of the score), for supervised models the features
whose removal moves the score most (coefficient × feature value for a linear model), for
VADER and zero-shot scores the
user's messages scoring highest and lowest, relative to the user's mean message (short
snippets; local output only).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from psyprofile.errors import PsyprofileError
from psyprofile.profiles.spec import FAMILIES, ProfileSpec
from psyprofile.profiles.study import read_norms, read_scores, resolve_run, stored_spec
from psyprofile.store.workspace import Workspace

BAR = 24
TOP = 3
SNIPPET = 60


def _fmt(x: float) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:.4g}"


def bar(value: float, lo: float, hi: float, lo_end: float, hi_end: float, width: int = BAR) -> str:
    """``[---===|===----]``: the interval (=) and the value (|) on the scale lo_end..hi_end."""
    if not np.isfinite(value) or not hi_end > lo_end:
        return "[" + " " * width + "]"

    def pos(x: float) -> int:
        return int(round((min(max(x, lo_end), hi_end) - lo_end) / (hi_end - lo_end) * (width - 1)))

    cells = ["-"] * width
    if np.isfinite(lo) and np.isfinite(hi):
        for i in range(pos(lo), pos(hi) + 1):
            cells[i] = "="
    cells[pos(value)] = "|"
    return "[" + "".join(cells) + "]"


def _user(ws: Workspace, user: str, run: int) -> tuple:
    """(user_id, words, status, messages, languages, unsupported_sources) of ``user`` (an id
    or a prefix of one)."""
    with ws.connect() as con:
        rows = con.execute("SELECT u.user_id, u.words, u.status, (SELECT count(*) FROM messages m "
                           "WHERE m.user_id = u.user_id), u.languages, u.unsupported_sources "
                           "FROM profile_run_users u "
                           "WHERE u.run_id = ? AND (u.user_id = ? OR u.user_id LIKE ?) ORDER BY 1",
                           [run, user, user + "%"]).fetchall()
    if not rows:
        raise PsyprofileError(f"no user '{user}' in the profiles of {ws.path}; give a pseudonymous "
                              "id (or its first characters) from `psyprofile profile --out`.")
    if len(rows) > 1 and rows[0][0] != user:
        raise PsyprofileError(f"'{user}' is the start of {len(rows)} user ids; give more characters.")
    return rows[0]


_NOT_SCORED = {
    "insufficient_text": "Not scored: too little text for a profile (see --min-words).",
    "unsupported_language": "Not scored: most of the user's words are in languages the sources "
                            "were not built for; no number would mean anything.",
}


def _source_lines(source: str, dims: list[str], explain: bool) -> list[str]:
    """What the card says about a source: its name and status, languages, evidence (and
    with ``explain`` its citation)."""
    from psyprofile.profiles.evidence import evidence_summary, source_evidence

    ev = source_evidence(source)
    built_for = ", ".join(ev.languages) or ("the languages its model card lists"
                                            if source.startswith("model:") else "unknown")
    lines = [f"  source {source}: {ev.name} [{ev.status}]; built for: {built_for}"]
    summaries = dict.fromkeys(evidence_summary(source, d) for d in dims)
    lines += [f"  evidence: {e}" for e in summaries]
    if explain:
        lines.append(f"  cite: {ev.citation}")
    return lines


def user_card(ws: Workspace, user: str, explain: bool = False,
              spec: ProfileSpec | None = None, run: int | None = None) -> str:
    """The card of ``user`` (a pseudonymous id or an unambiguous prefix of one) in profile
    run ``run`` (default the latest)."""
    with ws.connect() as con:
        rid = resolve_run(con, run, ws.path)
    uid, words, status, n_msgs, langs, unsupported = _user(ws, user, rid)
    lines = [f"Profile of user {uid} (profile run {rid})",
             f"{words:,} words in {n_msgs:,} posts; status: {status}; languages: {langs or 'not recorded'}"]
    if unsupported and status == "scored":
        lines.append(f"No score from {', '.join(unsupported)}: most of the user's words are in "
                     "languages those sources were not built for.")
    if status != "scored":
        lines.append(_NOT_SCORED.get(status, f"Not scored ({status})."))
        return "\n".join(lines) + "\n"
    scores = read_scores(ws, rid)
    norms = read_norms(ws, rid)
    q = {(r.dimension, r.source): (r.quantiles[1], r.quantiles[99]) for r in norms.itertuples()
         if r.quantiles is not None and len(r.quantiles) == 101}
    units = {(r.dimension, r.source): r.unit for r in norms.itertuples()}
    mine = scores[scores["user_id"] == uid]
    lines.append("Bars: the study's 1st..99th percentile; = the 95% interval, | the score; "
                 "pct = percentile in the reference sample named per source.")
    reasons = explain_user(ws, uid, mine, spec or stored_spec(ws, rid)) if explain else {}
    for fam in [f for f in FAMILIES if f in set(mine["family"])]:
        part = mine[mine["family"] == fam]
        lines.append("")
        lines.append(fam)
        for source in dict.fromkeys(part["source"]):
            sp = part[part["source"] == source]
            ref = sp["reference"].iloc[0]
            cov = sp["coverage"].iloc[0]
            lines += _source_lines(source, sp["dimension"].tolist(), explain)
            lines.append(f"  pct against: {ref}" + (f"; coverage: {cov:.1%} of the user's words "
                                                   "matched" if np.isfinite(cov) else ""))
            for r in sp.itertuples():
                lo_end, hi_end = q.get((r.dimension, r.source), (min(sp["lo"]), max(sp["hi"])))
                lines.append(f"  {r.dimension:<18} {bar(r.value, r.lo, r.hi, lo_end, hi_end)} "
                             f"{_fmt(r.value):>7} ({_fmt(r.lo)} .. {_fmt(r.hi)})  pct {r.pct:3.0f}"
                             f"  {units.get((r.dimension, r.source), '')}")
                for line in reasons.get((r.source, r.dimension), []):
                    lines.append(f"      {line}")
    return "\n".join(lines) + "\n"


def _snip(text: str) -> str:
    t = " ".join(text.split())
    return t if len(t) <= SNIPPET else t[:SNIPPET - 3] + "..."


def explain_user(ws: Workspace, uid: str, mine: pd.DataFrame,
                 spec: ProfileSpec | None = None) -> dict[tuple[str, str], list[str]]:
    """Per (source, dimension) of ``uid``: lines naming what pushed the score up and down most
    (``spec``: default the spec the stored profile was made with)."""
    from psyprofile.profiles.sources import LexiconScores
    from psyprofile.profiles.study import prepare

    spec = spec or stored_spec(ws)
    prep = prepare(ws, spec, progress=False)
    u = prep.msgs.users.index(uid)
    ids = prep.msgs.ids[prep.msgs.user == u]
    with ws.connect() as con:
        con.register("_ids", pd.DataFrame({"message_id": ids}))
        try:
            texts = dict(con.execute("SELECT message_id, text FROM messages JOIN _ids "
                                     "USING (message_id)").fetchall())
        finally:
            con.unregister("_ids")
    out: dict[tuple[str, str], list[str]] = {}
    for src in prep.sources:
        if isinstance(src, LexiconScores):
            out.update(_lexicon_reasons(ws, src, ids, float(prep.msgs.words[prep.msgs.user == u].sum())))
            continue
        for j, d in enumerate(src.dimensions):
            # relative to the user's own mean, so 'up' messages raise the score, 'down' lower it
            eff = src.message_effects(u, j)
            eff = eff - np.nanmean(eff) if np.isfinite(eff).any() else eff
            ok = np.flatnonzero(np.isfinite(eff))
            order = ok[np.argsort(eff[ok])]
            up = [f'"{_snip(texts[ids[i]])}" ({eff[i]:+.3g})' for i in order[::-1][:TOP]]
            down = [f'"{_snip(texts[ids[i]])}" ({eff[i]:+.3g})' for i in order[:TOP]]
            out[(src.source_id, d.name)] = (["up:   " + s for s in up] + ["down: " + s for s in down])
    for ref in spec.big5_models():
        out.update(_model_reasons(ws, ref, uid))
    return out


def _model_reasons(ws: Workspace, ref: str, uid: str) -> dict[tuple[str, str], list[str]]:
    """Features whose removal changes the model's score of ``uid`` most: for a linear model
    on standardised features this is coefficient × feature value."""
    import scipy.sparse as sp

    from psyprofile.models.persist import load_model
    from psyprofile.models.train import feature_matrix
    from psyprofile.profiles.study import model_dimension

    saved = load_model(ref, ws)
    dim = model_dimension(saved)
    if saved.spec["controls"]:
        return {(f"model:{saved.name}", dim): ["(no explanation for models with control variables)"]}
    sets = {s["name"]: s["features"] for s in saved.spec["feature_sets"]}
    with ws.connect() as con:
        X, _ = feature_matrix(con, list(sets), [uid], sets)
    names = np.array([f"{s}:{f}" for s, fs in sets.items() for f in fs])
    x = X.tocsr()
    nz = x.indices
    # one row per present feature, with that feature removed
    rows = sp.vstack([x] * len(nz), format="lil")
    for i, j in enumerate(nz):
        rows[i, j] = 0.0
    rows = sp.vstack([x, rows.tocsr()], format="csr")
    est = saved.estimator
    pred = est.predict(rows) if saved.spec["task"] == "regression" else est.predict_proba(rows)[:, -1]
    eff = pred[0] - pred[1:]
    order = np.argsort(eff)
    up = [f"{names[nz[i]]} ({eff[i]:+.2g})" for i in order[::-1][:TOP] if eff[i] > 0]
    down = [f"{names[nz[i]]} ({eff[i]:+.2g})" for i in order[:TOP] if eff[i] < 0]
    return {(f"model:{saved.name}", dim):
            (["up:   " + ", ".join(up)] if up else []) + (["down: " + ", ".join(down)] if down else [])}


def _lexicon_reasons(ws: Workspace, src, ids: np.ndarray,
                     words: float) -> dict[tuple[str, str], list[str]]:
    """Terms (1–3grams) of the user with the largest weight × relative frequency, per category."""
    from psyprofile.features.lexicon import match_terms, matching_source
    from psyprofile.lexica.registry import resolve_lexicon
    from psyprofile.store.db import quote_ident

    lex = resolve_lexicon(src.lexicon_source.ref, ws)
    with ws.connect() as con:
        con.register("_ids", pd.DataFrame({"group_id": ids}))
        con.register("_lex", lex.entries)
        try:
            grams = matching_source(con, lex, "1gram", "message")
            con.execute("CREATE OR REPLACE TEMP TABLE _user_grams AS SELECT f.feature, "
                        f"sum(f.value) AS value FROM {quote_ident(grams)} f JOIN _ids "
                        "USING (group_id) GROUP BY 1")
            match_terms(con, "_user_grams")
            rows = con.execute("SELECT m.category, m.word, m.weight * sum(u.value) / ? AS eff "
                               "FROM _matched m JOIN _user_grams u ON lower(u.feature) = m.word "
                               "GROUP BY 1, 2, m.weight", [max(words, 1.0)]).df()
        finally:
            con.unregister("_lex")
            con.unregister("_ids")
    out = {}
    for d in src.dimensions:
        # words break ties: the SQL above returns rows in no fixed order
        r = rows[rows["category"] == d.category].sort_values(["eff", "word"])
        up = r[r["eff"] > 0].iloc[::-1][:TOP]
        down = r[r["eff"] < 0][:TOP]
        lines = []
        if len(up):
            lines.append("up:   " + ", ".join(f"{w} ({e:+.2g})" for w, e in zip(up["word"], up["eff"], strict=True)))
        if len(down):
            lines.append("down: " + ", ".join(f"{w} ({e:+.2g})" for w, e in zip(down["word"], down["eff"], strict=True)))
        out[(src.source_id, d.name)] = lines or ["(none of the user's words is in this category)"]
    return out
