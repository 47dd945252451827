"""Inventories, reading/validating response files, and trait scoring against hand-scored sheets."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from psyprofile.errors import InputError
from psyprofile.survey.inventories import load_inventory
from psyprofile.survey.responses import read_responses
from psyprofile.survey.scoring import score_traits

FIX = Path(__file__).parent / "fixtures" / "survey"

# The published IPIP-50 scoring key typed by hand (item number, minus = reverse keyed), with
# Emotional Stability's key flipped so that the trait is neuroticism.
IPIP50_KEY = {
    "extraversion": [1, -6, 11, -16, 21, -26, 31, -36, 41, -46],
    "agreeableness": [-2, 7, -12, 17, -22, 27, -32, 37, 42, 47],
    "conscientiousness": [3, -8, 13, -18, 23, -28, 33, -38, 43, 48],
    "neuroticism": [4, -9, 14, -19, 24, 29, 34, 39, 44, 49],
    "openness": [5, -10, 15, -20, 25, -30, 35, 40, 45, 50],
}


def test_inventories_match_published_structure():
    ipip50 = load_inventory("ipip50")
    assert [i.id for i in ipip50.items] == [f"ipip50_{n}" for n in range(1, 51)]
    for trait, key in IPIP50_KEY.items():
        assert [(int(i.id.split("_")[1]) * i.key) for i in ipip50.items_of(trait)] == key
    assert ipip50.items[0].text == "I am the life of the party."
    assert (ipip50.scale_min, ipip50.scale_max) == (1, 5) and "Goldberg" in ipip50.citation

    mini = load_inventory("mini-ipip")
    assert len(mini.items) == 20
    # Donnellan et al. (2006): the Mini-IPIP items are IPIP-50 items, with the same keys.
    by_text = {i.text: i for i in ipip50.items}
    assert all(by_text[m.text].trait == m.trait and by_text[m.text].key == m.key for m in mini.items)
    assert [i.key for i in mini.items_of("openness")] == [1, -1, -1, -1]

    neo = load_inventory("ipipneo120")
    assert len(neo.items) == 120
    for trait in neo.traits:
        facets = pd.Series([i.facet for i in neo.items_of(trait)]).value_counts()
        assert len(facets) == 6 and set(facets) == {4}
    spot = {i.id: (i.trait, i.facet, i.key) for i in neo.items}
    assert spot["ipipneo120_1"] == ("neuroticism", "anxiety", 1)
    assert spot["ipipneo120_30"] == ("conscientiousness", "cautiousness", -1)
    assert spot["ipipneo120_88"] == ("openness", "liberalism", -1)
    assert spot["ipipneo120_112"] == ("extraversion", "excitement_seeking", 1)


def test_unknown_inventory():
    with pytest.raises(Exception, match="unknown inventory 'bfi'. Available: ipip50"):
        load_inventory("bfi")


def _hand_scores(path: Path, max_missing: int) -> dict[str, dict[str, float]]:
    """IPIP-50 trait scores computed from the sheet with the hand key above."""
    out = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            scores = {}
            for trait, key in IPIP50_KEY.items():
                vals = []
                for k in key:
                    cell = row[f"ipip50_{abs(k)}"]
                    if cell:
                        vals.append(int(cell) if k > 0 else 6 - int(cell))
                scores[trait] = sum(vals) / len(vals) if len(key) - len(vals) <= max_missing else np.nan
            out[row["ID"]] = scores
    return out


@pytest.mark.parametrize("max_missing", [None, 3, 0])
def test_ipip50_scores_match_hand_scoring(max_missing):
    inv = load_inventory("ipip50")
    resp = read_responses(FIX / "ipip50_sheet.csv", inv, "ID")
    got = score_traits(inv, resp.answers, max_missing=max_missing)
    expected = _hand_scores(FIX / "ipip50_sheet.csv", 2 if max_missing is None else max_missing)
    for pid, traits in expected.items():
        for trait, value in traits.items():
            assert got.at[pid, trait] == pytest.approx(value, nan_ok=True), (pid, trait)
    # The missing-item rule at work: p2 lacks 2 extraversion items, p3 lacks 3 conscientiousness.
    if max_missing is None:
        assert np.isfinite(got.at["p2", "extraversion"]) and np.isnan(got.at["p3", "conscientiousness"])


def test_mini_ipip_sheet_by_hand():
    inv = load_inventory("mini-ipip")
    resp = read_responses(FIX / "mini_ipip_sheet.csv", inv, "ID")
    assert (resp.rows, resp.no_user, resp.duplicate_user, resp.unanswered) == (4, 1, 1, 2)
    assert list(resp.answers.index) == ["r1", "r2"]
    s = score_traits(inv, resp.answers)  # default: no item of a 4-item scale may be missing
    # r1: E = 1, 6r, 11, 16r; A = 2, 7r, 12, 17r; C = 3, 8r, 13, 18r; N = 4, 9r, 14, 19r;
    # O = 5, 10r, 15r, 20r; reversed = 6 - answer.
    assert s.loc["r1"].to_dict() == pytest.approx({
        "extraversion": (5 + (6 - 1) + 4 + (6 - 2)) / 4,
        "agreeableness": (4 + (6 - 2) + 5 + (6 - 1)) / 4,
        "conscientiousness": (2 + (6 - 4) + 2 + (6 - 5)) / 4,
        "neuroticism": (1 + (6 - 5) + 2 + (6 - 4)) / 4,
        "openness": (5 + (6 - 1) + (6 - 2) + (6 - 1)) / 4,
    })
    assert np.isnan(s.at["r2", "extraversion"]) and np.isnan(s.at["r2", "agreeableness"])
    assert s.at["r2", "conscientiousness"] == pytest.approx((3 + (6 - 5) + 3 + (6 - 4)) / 4)
    prorated = score_traits(inv, resp.answers, max_missing=1)
    assert prorated.at["r2", "extraversion"] == pytest.approx((4 + (6 - 2) + 5) / 3)
    assert prorated.at["r2", "agreeableness"] == pytest.approx(((6 - 1) + 4 + (6 - 2)) / 3)
    assert prorated.at["r2", "openness"] == pytest.approx((4 + (6 - 2) + (6 - 1) + (6 - 2)) / 4)


def _write(tmp_path: Path, inv_name: str, rows: list[list], cols: list[str] | None = None,
           name: str = "r.csv") -> Path:
    inv = load_inventory(inv_name)
    cols = cols or [i.id for i in inv.items]
    path = tmp_path / name
    pd.DataFrame(rows, columns=["ID", *cols]).to_csv(path, index=False, sep="\t" if name.endswith(".tsv") else ",")
    return path


def test_bad_values_name_file_line_column_and_fix(tmp_path):
    inv = load_inventory("mini-ipip")
    rows = [["a", *[3] * 20], ["b", *[3] * 20], ["c", *[3] * 20]]
    rows[1][3] = "NA"
    rows[2][20] = 6
    path = _write(tmp_path, "mini-ipip", rows)
    with pytest.raises(InputError) as err:
        read_responses(path, inv, "ID")
    msg = str(err.value)
    assert msg.startswith(f"{path}: 2 answers are not whole numbers from 1 to 5: ")
    assert "line 3, column 'mini-ipip_3': 'NA'" in msg
    assert "line 4, column 'mini-ipip_20': '6'" in msg
    assert "leave a cell empty for an unanswered item" in msg and "--invalid missing" in msg
    resp = read_responses(path, inv, "ID", invalid="missing")
    assert resp.invalid == 2 and resp.unanswered == 0
    assert np.isnan(resp.answers.at["b", "mini-ipip_3"]) and resp.answers.at["a", "mini-ipip_3"] == 3


def test_fractional_and_zero_are_invalid_and_counted(tmp_path):
    inv = load_inventory("mini-ipip")
    rows = [["a", 2.5, 0, *[3] * 18]]
    resp = read_responses(_write(tmp_path, "mini-ipip", rows), inv, "ID", invalid="missing")
    assert resp.invalid == 2 and resp.answers.iloc[0, :2].isna().all()


def test_missing_columns_and_user_col(tmp_path):
    inv = load_inventory("ipip50")
    path = _write(tmp_path, "mini-ipip", [["a", *[3] * 20]])
    with pytest.raises(InputError, match=r"50 of the 50 item columns of ipip50 are missing \(e.g. ipip50_1"):
        read_responses(path, inv, "ID")
    with pytest.raises(InputError, match="no column 'user' for the respondent id.*--user-col"):
        read_responses(path, load_inventory("mini-ipip"), "user")


def test_item_columns_by_prefix_inline_map_and_map_file(tmp_path):
    inv = load_inventory("mini-ipip")
    answers = [1, 2, 3, 4, 5] * 4
    path = _write(tmp_path, "mini-ipip", [["a", *answers]], cols=[f"Q{n}" for n in range(1, 21)],
                  name="q.tsv")
    by_prefix = read_responses(path, inv, "ID", item_cols="Q").answers
    assert by_prefix.iloc[0].tolist() == answers
    inline = ",".join(f"mini-ipip_{n}=Q{n}" for n in range(1, 21))
    assert read_responses(path, inv, "ID", item_cols=inline).answers.equals(by_prefix)
    mapfile = tmp_path / "map.csv"
    pd.DataFrame({"item": [f"mini-ipip_{n}" for n in range(1, 21)],
                  "column": [f"Q{n}" for n in range(1, 21)]}).to_csv(mapfile, index=False)
    assert read_responses(path, inv, "ID", item_cols=str(mapfile)).answers.equals(by_prefix)
    with pytest.raises(InputError, match=r"nomap.csv: no such file"):
        read_responses(path, inv, "ID", item_cols=str(tmp_path / "nomap.csv"))
    with pytest.raises(InputError, match="maps ipip50_1, which are not items of mini-ipip"):
        read_responses(path, inv, "ID", item_cols="ipip50_1=Q1")


def test_parquet_rows_are_numbered_from_one(tmp_path):
    inv = load_inventory("mini-ipip")
    df = pd.DataFrame([["a", *[3] * 20], ["b", 9, *[3] * 19]],
                      columns=["ID", *[i.id for i in inv.items]])
    path = tmp_path / "r.parquet"
    df.to_parquet(path)
    with pytest.raises(InputError, match=r"row 2, column 'mini-ipip_1': '9'"):
        read_responses(path, inv, "ID")
