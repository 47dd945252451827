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
from psyprofile.profiles.study import read_scores
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


def _user(ws: Workspace, user: str) -> tuple[str, int, str, int]:
    with ws.connect() as con:
        rows = con.execute("SELECT u.user_id, u.words, u.status, (SELECT count(*) FROM messages m "
                           "WHERE m.user_id = u.user_id) FROM profile_users u "
                           "WHERE u.user_id = ? OR u.user_id LIKE ? ORDER BY 1",
                           [user, user + "%"]).fetchall()
    if not rows:
        raise PsyprofileError(f"no user '{user}' in the profiles of {ws.path}; give a pseudonymous "
                              "id (or its first characters) from `psyprofile profile --out`.")
    if len(rows) > 1 and rows[0][0] != user:
        raise PsyprofileError(f"'{user}' is the start of {len(rows)} user ids; give more characters.")
    return rows[0]


def user_card(ws: Workspace, user: str, explain: bool = False,
              spec: ProfileSpec | None = None) -> str:
    """The card of ``user`` (a pseudonymous id or an unambiguous prefix of one)."""
    uid, words, status, n_msgs = _user(ws, user)
    lines = [f"Profile of user {uid}", f"{words:,} words in {n_msgs:,} posts; status: {status}"]
    if status != "scored":
        lines.append("Not scored: too little text for a profile (see --min-words).")
        return "\n".join(lines) + "\n"
    scores = read_scores(ws)
    with ws.connect() as con:
        norms = con.execute("SELECT dimension, unit, quantiles FROM profile_norms").df()
    q = {r.dimension: (r.quantiles[1], r.quantiles[99]) for r in norms.itertuples()
         if r.quantiles is not None and len(r.quantiles) == 101}
    units = dict(zip(norms["dimension"], norms["unit"], strict=True))
    mine = scores[scores["user_id"] == uid]
    lines.append("Bars: the study's 1st..99th percentile; = the 95% interval, | the score; "
                 "pct = percentile in this study.")
    reasons = explain_user(ws, uid, mine, spec) if explain else {}
    for fam in [f for f in FAMILIES if f in set(mine["family"])]:
        part = mine[mine["family"] == fam]
        lines.append("")
        lines.append(f"{fam} ({', '.join(dict.fromkeys(part['source']))})")
        for r in part.itertuples():
            lo_end, hi_end = q.get(r.dimension, (min(part["lo"]), max(part["hi"])))
            lines.append(f"  {r.dimension:<18} {bar(r.value, r.lo, r.hi, lo_end, hi_end)} "
                         f"{_fmt(r.value):>7} ({_fmt(r.lo)} .. {_fmt(r.hi)})  pct {r.pct:3.0f}"
                         f"  {units.get(r.dimension, '')}")
            for line in reasons.get(r.dimension, []):
                lines.append(f"      {line}")
    return "\n".join(lines) + "\n"


def _snip(text: str) -> str:
    t = " ".join(text.split())
    return t if len(t) <= SNIPPET else t[:SNIPPET - 3] + "..."


def explain_user(ws: Workspace, uid: str, mine: pd.DataFrame,
                 spec: ProfileSpec | None = None) -> dict[str, list[str]]:
    """Per dimension of ``uid``: lines naming what pushed the score up and down most
    (``spec``: default the spec the stored profile was made with)."""
    from psyprofile.profiles.sources import LexiconScores
    from psyprofile.profiles.study import prepare, stored_spec

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
    out: dict[str, list[str]] = {}
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
            out[d.name] = (["up:   " + s for s in up] + ["down: " + s for s in down])
    for ref in spec.big5_models():
        out.update(_model_reasons(ws, ref, uid))
    return out


def _model_reasons(ws: Workspace, ref: str, uid: str) -> dict[str, list[str]]:
    """Features whose removal changes the model's score of ``uid`` most: for a linear model
    on standardised features this is coefficient × feature value."""
    import scipy.sparse as sp

    from psyprofile.models.persist import load_model
    from psyprofile.models.train import feature_matrix
    from psyprofile.profiles.study import model_dimension

    saved = load_model(ref, ws)
    dim = model_dimension(saved)
    if saved.spec["controls"]:
        return {dim: ["(no explanation for models with control variables)"]}
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
    return {dim: (["up:   " + ", ".join(up)] if up else []) + (["down: " + ", ".join(down)] if down else [])}


def _lexicon_reasons(ws: Workspace, src, ids: np.ndarray, words: float) -> dict[str, list[str]]:
    """Words of the user with the largest weight × relative frequency, per category."""
    from psyprofile.features.lexicon import MATCHED_SQL, MIN_WILDCARD_STEM
    from psyprofile.lexica.load import INTERCEPT
    from psyprofile.lexica.registry import resolve_lexicon

    lex = resolve_lexicon(src.lexicon_source.ref, ws)
    with ws.connect() as con:
        con.register("_ids", pd.DataFrame({"group_id": ids}))
        con.execute('CREATE OR REPLACE TEMP TABLE _user_1grams AS SELECT f.feature, sum(f.value) '
                    'AS value FROM "feat$1gram$message" f JOIN _ids USING (group_id) GROUP BY 1')
        con.unregister("_ids")
        con.register("_lex", lex.entries)
        try:
            con.execute(MATCHED_SQL.format(src="_user_1grams", icpt=INTERCEPT, stem=MIN_WILDCARD_STEM))
            rows = con.execute("SELECT m.category, m.word, m.weight * sum(u.value) / ? AS eff "
                               "FROM _matched m JOIN _user_1grams u ON lower(u.feature) = m.word "
                               "GROUP BY 1, 2, m.weight", [max(words, 1.0)]).df()
        finally:
            con.unregister("_lex")
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
        out[d.name] = lines or ["(none of the user's words is in this category)"]
    return out
