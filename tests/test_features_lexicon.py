"""Lexicon and VADER features against hand-computed values."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from psyprofile.features.lexicon import extract_lexicon
from psyprofile.features.store import write_features
from psyprofile.features.vader import extract_vader, message_scores
from psyprofile.io.base import ColumnMap
from psyprofile.io.ingest import ingest
from psyprofile.store.workspace import Workspace

FIX = Path(__file__).parent / "fixtures" / "lexica"

# Three users' 1gram counts; group_norm = count / the user's tokens (8, 3 and 5).
COUNTS = {
    "u1": {"happy": 2, "sad": 1, "abandoned": 1, "the": 4},
    "u2": {"the": 2, "Happy": 1},
    "u3": {"the": 5},
}


@pytest.fixture
def ws(tmp_path):
    ws = Workspace.create(tmp_path / "study")
    rows = [(g, f, c, c / sum(fc.values())) for g, fc in COUNTS.items() for f, c in fc.items()]
    df = pd.DataFrame(rows, columns=["group_id", "feature", "value", "group_norm"])
    with ws.connect() as con:
        write_features(con, "1gram", "user", df, kind="ngram")
    return ws


def table(ws, name):
    with ws.connect() as con:
        rows = con.execute(f'SELECT group_id, feature, value, group_norm FROM "feat${name}$user"').fetchall()
    return {(g, f): (v, pytest.approx(n)) for g, f, v, n in rows}


def test_weighted_lexicon_with_intercepts(ws):
    # happy: POS 2, NEG -1; sad: NEG 3; abandon*: NEG 0.5; _intercept: POS .25, NEG -.1
    out = extract_lexicon(ws, str(FIX / "weighted.csv"), progress=False)
    assert out == {"features": 2, "groups": 3, "rows": 6}
    assert table(ws, "weighted") == {
        ("u1", "POS"): (2, 2 / 8 * 2 + 0.25),
        ("u1", "NEG"): (4, 2 / 8 * -1 + 1 / 8 * 3 + 1 / 8 * 0.5 - 0.1),  # 0.0875
        ("u2", "POS"): (1, 1 / 3 * 2 + 0.25),  # 'Happy' matches 'happy'
        ("u2", "NEG"): (1, 1 / 3 * -1 - 0.1),
        ("u3", "POS"): (0, 0.25),  # no word matched: the intercept alone
        ("u3", "NEG"): (0, -0.1),
    }


def test_unweighted_dic_with_wildcards(ws):
    # happ* matches happy/Happy; abandon* and abandoned both match 'abandoned' (once);
    # ab* has a 2-letter stem, which (as in DLATK) only matches the token 'ab*' itself.
    out = extract_lexicon(ws, str(FIX / "liwc.dic"), progress=False)
    assert out == {"features": 3, "groups": 3, "rows": 6}
    assert table(ws, "liwc") == {
        ("u1", "posemo"): (2, 2 / 8),
        ("u1", "negemo"): (2, 2 / 8),
        ("u2", "posemo"): (1, 1 / 3),
        # no _intercept term in the lexicon: a constant feature per group, as DLATK adds
        ("u1", "_intercept"): (1, 1.0),
        ("u2", "_intercept"): (1, 1.0),
        ("u3", "_intercept"): (1, 1.0),
        # u3 matched nothing: no posemo/negemo rows (read as 0)
    }


@pytest.mark.parametrize("lexicon", ["weighted.csv", "liwc.dic"])
def test_lexicon_table_is_sorted_and_listed_with_its_counts(ws, lexicon):
    # the rows are built in (group, category) order and stored without a sort
    out = extract_lexicon(ws, str(FIX / lexicon), progress=False)
    name = Path(lexicon).stem
    with ws.connect() as con:
        rows = con.execute(f'SELECT group_id, feature FROM "feat${name}$user"').fetchall()
        listed = con.execute("SELECT n_features, n_groups, n_rows FROM feature_sets "
                             "WHERE name = ?", [name]).fetchall()
    assert rows == sorted(rows)
    assert listed == [(len({f for _, f in rows}), len({g for g, _ in rows}), len(rows))]
    assert out == dict(zip(["features", "groups", "rows"], listed[0], strict=True))


def test_unknown_source_set_is_a_clear_error(tmp_path):
    ws = Workspace.create(tmp_path / "empty")
    with pytest.raises(Exception, match="feature set '1gram' at level 'user' has not been extracted"):
        extract_lexicon(ws, str(FIX / "liwc.dic"), progress=False)


def test_vader_features(tmp_path):
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    sia = SentimentIntensityAnalyzer()
    src = tmp_path / "posts.csv"
    pd.DataFrame({
        "user_id": ["pos", "pos", "neg"],
        "message": ["I love this, it is wonderful!", "Great day. Not bad at all.",
                    "This is terrible and I hate it."],
        "date": ["2020-01-01", "2020-01-02", "2020-01-03"],
    }).to_csv(src, index=False)
    ws = Workspace.create(tmp_path / "study")
    ingest(ws, [src], columns=ColumnMap(text="message", user="user_id", time="date"), progress=False)
    out = extract_vader(ws, progress=False)
    assert out == {"features": 4, "groups": 2, "rows": 8}
    pseud = ws.pseudonymizer()
    feats = table(ws, "vader")
    # a one-sentence message scores exactly as vaderSentiment scores it
    neg = sia.polarity_scores("This is terrible and I hate it.")
    assert neg["compound"] == pytest.approx(-0.7783, abs=1e-4)
    assert feats[(pseud("neg"), "compound")] == (pytest.approx(neg["compound"]), pytest.approx(neg["compound"]))
    assert feats[(pseud("neg"), "neg")][0] == pytest.approx(neg["neg"])
    # two sentences: their mean; a user: the mean of their messages
    two = [sia.polarity_scores(s)["compound"] for s in ("Great day.", "Not bad at all.")]
    assert message_scores("Great day. Not bad at all.")[0] == pytest.approx(sum(two) / 2)
    one = sia.polarity_scores("I love this, it is wonderful!")["compound"]
    assert feats[(pseud("pos"), "compound")][0] == pytest.approx((one + sum(two) / 2) / 2)
    assert feats[(pseud("pos"), "compound")][0] > 0.5 > feats[(pseud("neg"), "compound")][0]
