"""``psyprofile demo``: a whole study on the public blog corpus, one printed step at a time.

Each step prints a header, does one thing through the public library functions, and adds
what it made to the returned dict, so new steps (features, profiles, report) are appended
at the end of :func:`run_demo`.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from psyprofile.errors import PsyprofileError, WorkspaceError

DEFAULT_DIR = Path("psyprofile-demo")
DEMO_NAME = "blog-demo"


def _header(step: int, title: str, t0: float) -> None:
    """Print a step's header with the wall time since the demo started (so a slow step shows)."""
    print(f"\n== step {step}: {title}  [{time.perf_counter() - t0:.0f} s]", flush=True)


def is_study(path: Path) -> bool:
    """True when ``path`` holds a psyprofile study (its database and its settings file)."""
    from psyprofile.store.workspace import CONFIG_NAME, DB_NAME

    return (path / DB_NAME).is_file() and (path / CONFIG_NAME).is_file()


def prepare_study_dir(study_dir: Path, force: bool) -> None:
    """Make sure a new study can be created in ``study_dir``.

    A missing or empty folder is fine. A folder with anything in it is refused unless
    ``force`` is set, and even then it is deleted only when it is a psyprofile study: the demo
    never deletes a folder that merely happens to be at that path.
    """
    if not study_dir.exists():
        return
    if not study_dir.is_dir():
        raise WorkspaceError(f"{study_dir}: is a file, not a folder; choose another STUDY_DIR.")
    if not any(study_dir.iterdir()):
        return
    if not is_study(study_dir):
        raise WorkspaceError(
            f"{study_dir}: folder exists and is not a psyprofile study (no study.duckdb and "
            "psyprofile.toml); refusing to touch it, even with --force. Choose another STUDY_DIR."
        )
    if not force:
        raise WorkspaceError(
            f"{study_dir}: a study already exists here. Run with --force to delete it and "
            "build the demo again, or choose another STUDY_DIR."
        )
    shutil.rmtree(study_dir)


def run_demo(study_dir: Path = DEFAULT_DIR, force: bool = False,
             progress: bool = True, min_words: int | None = None) -> dict[str, Any]:
    """Build the demo study in ``study_dir`` from the blog corpus; returns what each step made.

    Keys: ``study`` (the folder), ``messages`` / ``users`` (the cached corpus files),
    ``ingest`` (:class:`~psyprofile.io.ingest.IngestReport`), ``outcomes``
    (:class:`~psyprofile.store.outcomes.OutcomeReport`), ``features`` (what
    :func:`~psyprofile.features.extract.extract_features` reported), ``dla`` (the results
    table of :func:`~psyprofile.analysis.dla.run_dla`), ``profiles``
    (:class:`~psyprofile.profiles.study.ProfileReport`), ``predict`` (the bundled age model's
    :class:`~psyprofile.models.predict.PredictReport`), ``study`` (the
    :class:`~psyprofile.analysis.groups.StudyResult` of occupations by month) and ``report``
    (:class:`~psyprofile.report.html.ReportResult`, ``STUDY_DIR/report.html``) and
    ``seconds`` (the demo's wall time; each step's header shows the time so far). ``min_words``
    overrides the study's minimum words per user for the filter and the analyses.
    """
    from psyprofile.datasets.blogs import blog_corpus
    from psyprofile.datasets.dlatk_sdist import BLOG_CORPUS, DLATK
    from psyprofile.io.base import ColumnMap
    from psyprofile.io.ingest import ingest
    from psyprofile.store.outcomes import load_outcomes
    from psyprofile.store.workspace import Workspace

    study_dir = Path(study_dir)
    # Refuse early, before a download, when the folder cannot be used.
    prepare_study_dir(study_dir, force)
    out: dict[str, Any] = {"study": study_dir}
    t0 = time.perf_counter()

    _header(1, "get the blog corpus", t0)
    for src in (BLOG_CORPUS, DLATK):
        print(f"{src.name}\n  cite: {src.citation}\n  terms: {src.licence}\n  {src.url}")
    out["messages"], out["users"] = blog_corpus(progress=progress)
    print(f"posts in {out['messages']}\nusers in {out['users']}")

    _header(2, f"create the study in {study_dir}", t0)
    ws = Workspace.create(study_dir, name=DEMO_NAME)
    print(f"created study '{ws.config['name']}' (key {ws.key_path}: keep it private)")

    _header(3, "ingest the posts", t0)
    columns = ColumnMap(id="message_id", user="user_id", time="created_time", text="message")
    out["ingest"] = ingest(ws, [out["messages"]], fmt="parquet", columns=columns,
                           progress=progress)
    print(out["ingest"].summary())

    _header(4, "load the bloggers' outcomes (gender, age, occupation, sign)", t0)
    out["outcomes"] = load_outcomes(ws, out["users"], user_col="user_id")
    print(out["outcomes"].summary())

    _header(5, "language features: 1grams (used by >= 5% of users), emotions, well-being, topics", t0)
    out["features"] = _features(ws, progress, min_words)

    _header(6, "differential language analysis of age and gender", t0)
    try:
        out["dla"] = _dla(ws, study_dir / "clouds", progress, min_words)
    except PsyprofileError as exc:  # e.g. a corpus too small to test anything
        print(f"  skipped: {exc}")

    _header(7, "profiles of every blogger: Big Five, emotions, well-being, age, gender, ...", t0)
    from psyprofile.profiles.study import profile_study

    try:
        out["profiles"] = profile_study(ws, min_words=min_words, progress=progress)
        print(out["profiles"].summary())
    except PsyprofileError as exc:  # e.g. lexica unavailable offline; the report says so
        print(f"  skipped: {exc}")
    # The bundled age model as well, so the report shows a model card with its CV figures.
    from psyprofile.models.persist import load_model
    from psyprofile.models.predict import predict

    try:
        out["predict"] = predict(ws, load_model(DEMO_MODEL), min_words=min_words)
        print(f"  {out['predict'].summary()}\n  (in-sample here: {DEMO_MODEL} was trained "
              "on this corpus; its card gives the cross-validated figures)")
    except PsyprofileError as exc:
        print(f"  skipped {DEMO_MODEL}: {exc}")

    _header(8, f"group study: {', '.join(DEMO_GROUPS)} as a whole and month by month", t0)
    try:
        out["study"] = _study(ws, progress)
    except PsyprofileError as exc:  # e.g. no profiles, or too few users
        print(f"  skipped: {exc}")

    _header(9, "the report: one HTML file to open in a browser", t0)
    from psyprofile.report.html import write_report

    out["report"] = write_report(ws, study_dir / "report.html", progress=progress)
    print(out["report"].summary())
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(f"\n== demo finished in {out['seconds']:.0f} s")
    return out


DEMO_MODEL = "age-blogs"
DEMO_GROUPS = ("occu",)
DEMO_SCORES = ("big5", "wellbeing", "emotions", "age")


def _study(ws, progress: bool) -> Any:
    """Run the demo's group study and print what was released and the strongest differences."""
    from psyprofile.analysis.groups import StudyOptions, run_study

    res = run_study(ws, StudyOptions(by=list(DEMO_GROUPS), period="month", scores=DEMO_SCORES),
                    progress=progress)
    g, c = res.groups, res.comparisons
    whole = g[g["period"].isna()]
    k = res.params["min_users"]
    for by in DEMO_GROUPS:
        rows = whole[whole["by"] == by]
        shown = rows.loc[~rows["suppressed"].astype(bool), "grp"].nunique()
        print(f"  {by}: {shown} of {rows['grp'].nunique()} groups released; the others are "
              f"suppressed (under {k} users, or withheld so that no small group can be "
              f"derived); {g['period'].nunique()} months")
    sig = c[c["q"] < 0.05]
    print(f"  {len(c):,} comparisons, {len(sig):,} with FDR q < 0.05; stored as study run "
          f"{res.run_id}")
    for r in sig.sort_values("q").head(5).itertuples():
        vs = f"{r.group_a} vs {r.group_b}" if isinstance(r.group_b, str) else "all groups"
        print(f"    {r.score:<18} {vs:<40} {r.effect} = {r.estimate:+.2f} (q = {r.q:.2g})")
    return res


# The lexica come from DLATK's sdist; without them the demo still runs on 1grams.
DEMO_LEXICA = ("nrc_emot", "dd_permaV3", "fb2000_cp")


def _features(ws, progress: bool, min_words: int | None) -> dict[str, Any]:
    from psyprofile.features.extract import FeatureOptions, extract_features
    from psyprofile.lexica.registry import LexiconUnavailable

    try:
        res = extract_features(ws, FeatureOptions(ngrams=(1,), lexica=DEMO_LEXICA,
                                                  min_users_pct=0.05, min_words=min_words),
                               progress=progress)
    except LexiconUnavailable as exc:
        print(f"lexica unavailable ({exc}); continuing with 1grams only")
        res = extract_features(ws, FeatureOptions(ngrams=(1,), min_users_pct=0.05,
                                                  min_words=min_words), progress=progress)
    for name, s in res["sets"].items():
        if "features" in s:
            print(f"  {name:<16} {s['features']:>7,} features  {s['groups']:>6,} users  {s['rows']:>10,} rows")
    return res


def _dla(ws, clouds_dir: Path, progress: bool, min_words: int | None) -> Any:
    from psyprofile.analysis.dla import run_dla
    from psyprofile.features.store import list_feature_sets
    from psyprofile.report.clouds import clouds_for_run

    with ws.connect(read_only=True) as con:
        have = {s["name"] for s in list_feature_sets(con)}
    sets = [s for s in ("1gram_occ0.05", "fb2000_cp") if s in have]
    res = run_dla(ws, ["age", "gender"], sets, min_words=min_words, progress=progress)
    for outcome in ("age", "gender"):
        rows = res[(res["outcome"] == outcome) & (res["feature_set"] == "1gram_occ0.05")].dropna(subset=["coef"])
        up = ", ".join(rows.head(12)["feature"])
        down = ", ".join(rows.sort_values("coef").head(12)["feature"])
        print(f"  {outcome}: higher with  {up}\n  {' ' * len(outcome)}  lower with   {down}")
    clouds = clouds_for_run(ws, res, sets, "user", 0.05, clouds_dir)
    print(f"  {len(clouds.files)} word-cloud files in {clouds_dir}")
    return res
