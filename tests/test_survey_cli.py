"""``psyprofile survey`` end to end: stored outcomes, tables, messages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from psyprofile.cli.main import cli
from psyprofile.store.outcomes import read_outcomes
from psyprofile.store.workspace import Workspace
from psyprofile.survey.inventories import load_inventory

FIX = Path(__file__).parent / "fixtures" / "survey"


@pytest.fixture
def study(tmp_path) -> Path:
    Workspace.create(tmp_path / "st")
    return tmp_path / "st"


def _run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_survey_stores_pseudonymised_outcomes_and_tables(study):
    res = _run("survey", study, FIX / "mini_ipip_sheet.csv", "--inventory", "mini-ipip",
               "--user-col", "ID", "--max-missing", "1", "--bootstrap", "20", "--quiet")
    assert res.exit_code == 0, res.output
    assert "4 rows, 2 respondents" in res.output
    assert "1 rows without an id, 1 repeated ids" in res.output
    assert "stored outcomes mini-ipip_openness" in res.output
    ws = Workspace.open(study)
    pseudo = ws.pseudonymizer("user")
    with ws.connect() as con:
        out = read_outcomes(con, ["mini-ipip_extraversion", "mini-ipip_agreeableness"])
        scales = con.execute("SELECT * FROM survey_scales ORDER BY scale").df()
        flags = con.execute("SELECT * FROM survey_flags").df()
    assert set(out.index) == {pseudo("r1"), pseudo("r2")}
    assert out.at[pseudo("r1"), "mini-ipip_extraversion"] == pytest.approx((5 + 5 + 4 + 4) / 4)
    assert out.at[pseudo("r2"), "mini-ipip_extraversion"] == pytest.approx((4 + 4 + 5) / 3)
    assert list(scales["scale"]) == sorted(load_inventory("mini-ipip").traits)
    assert set(scales["max_missing"]) == {1} and set(scales["n_scored"]) == {2}
    assert set(flags["user_id"]) == {pseudo("r1"), pseudo("r2")}
    assert flags.set_index("user_id").at[pseudo("r2"), "n_missing"] == 2

    # Scoring again replaces this inventory's rows instead of adding to them.
    res = _run("survey", study, FIX / "mini_ipip_sheet.csv", "--inventory", "mini-ipip",
               "--user-col", "ID", "--bootstrap", "0", "--quiet")
    assert res.exit_code == 0, res.output
    with ws.connect() as con:
        assert con.execute("SELECT count(*) FROM survey_scales").fetchall() == [(5,)]
        assert con.execute("SELECT count(*) FROM survey_flags").fetchall() == [(2,)]
        out = read_outcomes(con, ["mini-ipip_extraversion"])
    assert np.isnan(out.at[pseudo("r2"), "mini-ipip_extraversion"])  # default rule: none missing


def _synthetic(path: Path, n: int = 120, seed: int = 0) -> pd.DataFrame:
    inv = load_inventory("ipip50")
    rng = np.random.default_rng(seed)
    lat = {t: rng.normal(size=n) for t in inv.traits}
    data = {i.id: np.clip(np.round(3 + i.key * lat[i.trait] + rng.normal(scale=0.8, size=n)), 1, 5)
            for i in inv.items}
    df = pd.DataFrame(data).astype(int)
    df.iloc[0] = 3  # a straight-liner
    df.insert(0, "pid", [f"u{k}" for k in range(n)])
    df.to_csv(path, index=False)
    return df


def test_survey_summary_reliability_and_exclusion(study, tmp_path):
    path = tmp_path / "ipip.csv"
    _synthetic(path)
    res = _run("survey", study, path, "--inventory", "ipip50", "--user-col", "pid",
               "--bootstrap", "100", "--exclude-careless", "--quiet")
    assert res.exit_code == 0, res.output
    assert "alpha [95% CI]" in res.output and "omega [95% CI]" in res.output
    assert "long-string >= 10: 1" in res.output and "excluded from the scores" in res.output
    ws = Workspace.open(study)
    with ws.connect() as con:
        scales = con.execute("SELECT * FROM survey_scales").df()
        out = read_outcomes(con, ["ipip50_extraversion"])
        careless = con.execute("SELECT count(*) FROM survey_flags WHERE careless").fetchall()[0][0]
    assert (scales["alpha"] > 0.8).all() and (scales["alpha_lo"] < scales["alpha"]).all()
    assert 1 <= careless < 10
    assert (scales["n_complete"] == 120 - careless).all()  # flagged respondents are left out
    assert int(out["ipip50_extraversion"].notna().sum()) == 120 - careless
    assert np.isnan(out.at[ws.pseudonymizer("user")("u0"), "ipip50_extraversion"])


def test_survey_bad_file_exits_with_message(study, tmp_path):
    path = tmp_path / "bad.csv"
    df = _synthetic(path, n=5)
    df.loc[3, "ipip50_7"] = 7
    df.to_csv(path, index=False)
    res = _run("survey", study, path, "--inventory", "ipip50", "--user-col", "pid", "--quiet")
    assert res.exit_code == 2
    assert f"error: {path}: 1 answer is not a whole number from 1 to 5: line 5, column 'ipip50_7': '7'" in res.output
    res = _run("survey", study, path, "--inventory", "ipip50", "--user-col", "pid", "--quiet",
               "--invalid", "missing", "--bootstrap", "0")
    assert res.exit_code == 0 and "1 invalid treated as unanswered" in res.output


def test_survey_without_any_id(study, tmp_path):
    path = tmp_path / "noid.csv"
    inv = load_inventory("mini-ipip")
    pd.DataFrame([["", *[3] * 20]], columns=["ID", *[i.id for i in inv.items]]).to_csv(path, index=False)
    res = _run("survey", study, path, "--inventory", "mini-ipip", "--user-col", "ID", "--quiet")
    assert res.exit_code == 2
    assert f"{path}: no row has a respondent id in column 'ID'; nothing to score." in res.output
