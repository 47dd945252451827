"""The HTML report: sections, suppression, no raw text, offline, and rendering in Chromium."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from markupsafe import escape as html_escape

from psyprofile.analysis.dla import run_dla
from psyprofile.cli.main import cli
from psyprofile.features.extract import FeatureOptions, extract_features
from psyprofile.io.base import ColumnMap
from psyprofile.io.ingest import ingest
from psyprofile.lexica.registry import resolve_lexicon, save_lexicon
from psyprofile.models.integrity import sign
from psyprofile.report.charts import group_bars
from psyprofile.report.html import SECTIONS, write_report
from psyprofile.store.outcomes import load_outcomes
from psyprofile.store.workspace import Workspace

FIXTURES = Path(__file__).parent / "fixtures" / "report"
LEXICON = Path(__file__).parent / "fixtures" / "lexica" / "weighted.csv"
LEXICON_CITATION = "Doe, J. (2020). A fixture lexicon of moods. Journal of Tests 1, 1-2."
sys.path.insert(0, str(FIXTURES))
from c1_c2_tables import add_tables  # noqa: E402

SECRET = "the purple walrus sings at midnight"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _corpus(folder: Path) -> tuple[Path, Path, list[str]]:
    """30 users, 8 posts each over three months; 'young' words go with a low age."""
    rng = np.random.default_rng(1)
    young, old, common = ["homework", "exams", "dorm"], ["kids", "mortgage", "garden"], [
        "today", "was", "a", "good", "day", "and", "I", "feel", "fine", "about", "it"]
    posts, users, texts = [], [], []
    for u in range(30):
        age = int(rng.integers(16, 60))
        users.append({"user_id": f"u{u}", "age": age, "occu": "ABC"[u % 3]})
        for k in range(8):
            words = list(rng.choice(common, 12)) + list(rng.choice(young if age < 35 else old, 3))
            text = " ".join(words) + (f". {SECRET}" if u == 0 and k == 0 else "")
            texts.append(text)
            posts.append({"id": f"p{u}_{k}", "user": f"u{u}", "time": f"2024-0{1 + k % 3}-1{k} 10:00",
                          "text": text})
    pd.DataFrame(posts).to_csv(folder / "posts.csv", index=False)
    pd.DataFrame(users).to_csv(folder / "users.csv", index=False)
    return folder / "posts.csv", folder / "users.csv", texts


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A study with posts, outcomes, 1grams, a DLA, a saved model and C1/C2 tables by hand."""
    root = tmp_path_factory.mktemp("report")
    posts, users, texts = _corpus(root)
    ws = Workspace.create(root / "study")
    ingest(ws, [posts], columns=ColumnMap(id="id", user="user", time="time", text="text"),
           progress=False)
    load_outcomes(ws, users)
    lex = resolve_lexicon(LEXICON)
    with ws.connect() as con:  # a study's own lexicon, stored with its citation
        save_lexicon(con, dataclasses.replace(lex, name="moodlex", citation=LEXICON_CITATION))
    extract_features(ws, FeatureOptions(ngrams=(1,), min_words=0, min_users_pct=0.1,
                                        lexica=("moodlex",)), progress=False)
    run_dla(ws, ["age"], ["1gram"], min_words=0, progress=False)
    shutil.copytree(FIXTURES / "age_fixture", ws.path / "models" / "age_fixture")
    sign(ws.path / "models" / "age_fixture")  # the report reads only models whose record holds
    with ws.connect() as con:
        ids = [r[0] for r in con.execute("SELECT DISTINCT user_id FROM messages").fetchall()]
        facts = add_tables(con, sorted(ids))
    result = write_report(ws, root / "report.html", progress=False)
    return {"ws": ws, "result": result, "html": result.path.read_text(), "texts": texts,
            "facts": facts}


def test_every_section_and_chart_is_there(study):
    html, result = study["html"], study["result"]
    for key, title in SECTIONS:
        assert f'<section id="{key}"' in html
        assert title in html
    assert result.missing == []
    for title in ["Distribution of big5 scores across users", "Distribution of age scores across users",
                  "big5 by occu: group means with 95% CIs", "age by occu: group means with 95% CIs",
                  "big5 by occu over time: means with 95% CI bands",
                  "Traits by occu: group difference from the mean, Cohen's d (S = suppressed)",
                  "age, 1gram: positively associated", "age, 1gram: negatively associated"]:
        assert title in result.charts
        assert html_escape(title) in html  # as the caption and the alt text
    assert len(re.findall(r"<img ", html)) == len(result.charts)


def test_suppressed_group_is_labelled_never_a_number(study):
    html = study["html"]
    assert re.search(r"<tr><td>C</td><td colspan=\"3\" class=\"suppressed\">suppressed", html)
    assert re.search(r"<tr><td>A</td><td class=\"n\">14</td><td class=\"n\">126</td>", html)
    assert "3 group(s)" not in html  # C has 3 users: that count must never show
    assert "6 group × score cell(s) suppressed" not in html
    assert "3 group × score cell(s) suppressed" in html  # C × (extraversion, neuroticism, age)


def test_comparisons_privacy_models_and_methods(study):
    html = study["html"]
    assert re.search(r'<tr class="sig"><td>occu</td><td>extraversion</td><td>A</td>\s*<td>B</td>'
                     r'<td>d</td>\s*<td class="n">0.750</td><td>\[0.100, 1.400\]</td>\s*'
                     r'<td class="n">0.004</td><td class="n">0.012</td>', html)
    assert "<td>A</td>\n      <td>all groups (omnibus)</td><td>eta2</td>" in html
    assert "Total ε spent over all releases: <strong>1.500</strong>" in html
    assert "Model card: age_fixture" in html and "[0.550, 0.670]" in html
    assert "RidgeCV(alphas=[0.1,1,10])" in html  # the pipeline, in the methods
    assert "&#34;min_users&#34;: 10" in html  # the study's params
    assert "scikit-learn" in html and "psyprofile" in html
    assert "insufficient_text 1" in html


def _methods_prose(html: str) -> list[str]:
    methods = html[html.index('<section id="methods"'):html.index("<details>",
                                                                  html.index('<section id="methods"'))]
    return re.findall(r'<p class="prose">(.*?)</p>', methods, flags=re.S)


def test_methods_are_prose_with_the_numbers_and_references(study):
    html, ws = study["html"], study["ws"]
    prose = _methods_prose(html)
    text = " ".join(prose)
    assert len(prose) >= 6
    assert not any(c in p for p in prose for c in "{}")  # no raw JSON in the paragraphs
    with ws.connect(read_only=True) as con:
        posts = con.execute("SELECT count(*) FROM messages").fetchone()[0]
        threshold = json.loads(con.execute(
            "SELECT params FROM feature_sets WHERE name = '1gram_occ0.1'").fetchone()[0])["threshold"]
    assert f"Of {posts:,} rows read, {posts:,} posts by 30 users were stored" in text
    assert "in 1 ingest run(s) (format csv)" in text  # the format each file was read as
    assert ("used by at least 10% of the 30 users (an occurrence threshold of "
            f"{threshold} users)") in text
    assert "In 10-fold cross-validation: r = 0.612 (95% CI [0.55, 0.67])" in text
    assert "Groups with fewer than 10 users were suppressed" in text
    assert "Benjamini-Hochberg false discovery rate procedure, at alpha = 0.05" in text
    # the lexicon's citation is numbered in the prose and listed once in the References
    ol = html[html.index('<ol class="references">'):]
    refs = re.findall(r"<li>(.*?)</li>", ol[:ol.index("</ol>")])
    assert refs.count(LEXICON_CITATION) == 1
    n = refs.index(LEXICON_CITATION) + 1
    assert f"category scores of the moodlex [{n}]" in text
    assert any("DLATK: Differential Language Analysis ToolKit" in r for r in refs)
    # the raw parameters are still there, collapsed
    assert "<details><summary>Software versions and the raw parameters" in html


def test_methods_cite_profile_sources_and_state_weights_and_privacy(study):
    from psyprofile.datasets.dlatk_sdist import BLOG_CORPUS
    from psyprofile.lexica.registry import BUNDLED
    from psyprofile.report.gather import gather
    from psyprofile.report.methods import methods

    ws = study["ws"]
    d = gather(ws)
    d.profile_scores = pd.DataFrame({
        "family": "emotions", "dimension": ["joy", "anger"], "value": [0.1, 0.2],
        "words": 100, "source": "nrc_emot", "reference": "blogs", "coverage": 0.1})
    base = {"by": ["occu"], "scores": ["age"], "min_users": 10, "n_boot": 500, "seed": 3}
    d.study_run = {"run_id": 7, "params": {**base, "weights": "w.csv", "max_weight_ratio": 10.0,
                                           "results": {"ess": 21.54, "n_weighted": 30}}}
    m = methods(ws, d)
    text = " ".join(p for _, ps in m.sections for p in ps)
    lex, blogs = (m.references.index(c) + 1 for c in (BUNDLED["nrc_emot"].citation,
                                                      BLOG_CORPUS.citation))
    assert f"joy and anger came from NRC Hashtag Emotion Lexicon [{lex}]" in text
    assert f"percentiles are against the blog corpus's 1,000 bloggers [{blogs}]" in text
    assert "(500 resamples, seed 3)" in text
    assert ("Users were weighted (weights from a file), trimmed to a ratio of 10; Kish's "
            "effective sample size was 21.5 of 30 users.") in text
    assert "rounded to 3 significant digits" in text
    d.study_run = {"run_id": 8, "params": {**base, "dp_epsilon": 0.5, "results": {}}}
    text = " ".join(p for _, ps in methods(ws, d).sections for p in ps)
    assert "differential privacy at a total epsilon of 0.5" in text
    assert "rounded to 3 significant digits" not in text


def test_no_post_text_and_nothing_from_the_network(study):
    html = study["html"]
    assert SECRET not in html
    assert not any(t in html for t in study["texts"])
    assert "<script" not in html and "<link" not in html and "url(" not in html
    assert all(src.startswith("data:image/png;base64,")
               for src in re.findall(r'<img src="([^"]*)"', html))


def test_dla_table_names_the_age_words(study):
    html = study["html"]
    dla = html[html.index('<section id="dla"'):html.index('<section id="groups"')]
    assert "<td>kids</td>" in dla or "<td>mortgage</td>" in dla
    assert "<td>homework</td>" in dla or "<td>exams</td>" in dla
    # the clouds are inlined once each (PNG only) with captions naming outcome, set, direction
    assert dla.count("Word cloud: age, 1gram: positively associated") == 1
    assert dla.count("Word cloud: age, 1gram: negatively associated") == 1


def test_two_valued_outcome_ranks_by_bounded_r_and_topics_show_words(study, tmp_path):
    from psyprofile.report.gather import gather
    from psyprofile.report.html import _dla

    d = gather(study["ws"])
    # 'rare' nearly separates the classes: a huge log-odds but a small correlation
    d.dla_results = pd.DataFrame({
        "run_id": 1, "level": "user", "feature_sets": "1gram", "outcome": "gender",
        "feature": ["rare", "kids", "t7"], "feature_set": "1gram", "coef": [9.0, 1.2, 0.8],
        "ci_lo": [1.0, 0.5, 0.2], "ci_hi": [17.0, 1.9, 1.4], "p": 0.001, "p_corrected": 0.003,
        "n": 30, "odds_ratio": np.exp([9.0, 1.2, 0.8]), "r": [0.12, 0.45, 0.30],
        "label": [None, None, "dinner, cook, eat"]})
    table = _dla(study["ws"], d, tmp_path)["tables"][0]
    assert table["rank"] == "r"
    assert [r["feature"] for r in table["positive"]] == ["kids", "t7", "rare"]
    assert table["positive"][1]["label"] == "dinner, cook, eat"


def test_sections_not_computed_say_so(tmp_path):
    posts, _, _ = _corpus(tmp_path)
    ws = Workspace.create(tmp_path / "bare")
    ingest(ws, [posts], columns=ColumnMap(id="id", user="user", time="time", text="text"),
           progress=False)
    res = write_report(ws, tmp_path / "r.html", progress=False)
    html = res.path.read_text()
    for line in ["No profiles computed", "No DLA computed", "No group study computed",
                 "No trends computed", "No heatmap", "No comparisons computed",
                 "No differentially private release", "No saved model was used"]:
        assert line in html
    assert res.missing == ["Profile score distributions", "Models used",
                           "Differential language analysis", "Group comparisons",
                           "Trends over time", "Tests between groups", "Privacy budget"]
    assert res.charts == []


def test_many_groups_name_the_always_suppressed_ones_instead_of_drawing_them():
    rows = []
    for i in range(20):
        supp = i >= 12
        for score in ("x", "y"):
            rows.append({"grp": f"g{i:02d}", "score": score, "suppressed": supp,
                         "mean": None if supp else float(i), "ci_lo": None if supp else i - 1.0,
                         "ci_hi": None if supp else i + 1.0})
    chart = group_bars(pd.DataFrame(rows), "occu", "big5", {"x": "SD units"})
    assert chart.title == "big5 by occu: group means with 95% CIs"
    assert chart.note == ("8 group(s) suppressed for every score (fewer users than the minimum) "
                          "are not drawn: g12, g13, g14, g15, g16, g17, g18, g19.")
    png = base64.b64decode(chart.uri.removeprefix("data:image/png;base64,"))
    assert png.startswith(b"\x89PNG")


def test_cli_report_and_unknown_run(study, tmp_path):
    posts, _, _ = _corpus(tmp_path)
    runner = CliRunner()
    bare, out = tmp_path / "bare", tmp_path / "cli.html"
    assert runner.invoke(cli, ["init", str(bare)]).exit_code == 0
    assert runner.invoke(cli, ["ingest", str(bare), str(posts), "--id-col", "id", "--user-col", "user",
                               "--time-col", "time", "--text-col", "text", "--quiet"]).exit_code == 0
    res = runner.invoke(cli, ["report", str(bare), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert res.output.startswith(f"wrote {out}") and out.is_file()
    assert "not computed yet: Profile score distributions; Models used" in res.output
    res = runner.invoke(cli, ["report", str(study["ws"].path), "--out", str(out), "--run", "9"])
    assert res.exit_code == 2
    assert "no group study run 9 (runs: 1)" in res.output


def test_report_renders_in_headless_chromium(study, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (/usr/bin/chromium); "
                    "scripts/test.sh installs it with apt-get when run as root")
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    errors, failed = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: failed.append(r.url))
            page.goto(study["result"].path.as_uri(), wait_until="load")
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
            shutil.copy(shot, "/tmp/report_screenshot.png")
            widths = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
            headings = page.eval_on_selector_all("h2", "els => els.map(e => e.textContent)")
            captions = page.eval_on_selector_all("figcaption", "els => els.map(e => e.textContent)")
        finally:
            browser.close()
    assert errors == [] and failed == []
    assert len(widths) == len(study["result"].charts) and all(w > 0 for w in widths)
    assert headings == [title for _, title in SECTIONS]
    for title in ["big5 by occu: group means with 95% CIs",
                  "Traits by occu: group difference from the mean, Cohen's d (S = suppressed)"]:
        assert any(c.startswith(title) for c in captions)
    assert shot.stat().st_size > 50_000
