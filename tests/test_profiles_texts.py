"""``profile_texts`` scores one person in memory with the numbers the study pipeline gives.

The lexicon figures are hand computations, VADER's interval and percentile a hand
computation from the bundled norms; the zero-shot scores (static and full model) are
compared live with ``profile_study`` on a study of the same texts (embedder output differs
across CPUs in the last digits, so no stored figures); the lexicon and VADER values are also
compared live on several users.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from test_profiles import make_study

from psyprofile.errors import InputError
from psyprofile.profiles.person import index_lexicon, spec_resources
from psyprofile.profiles.spec import TRAITS, spec_from_lexica
from psyprofile.profiles.study import profile_study, read_scores
from psyprofile.profiles.texts import profile_texts

# Wildcards long (joy*, abandon*) and too short to expand (ha*), a word matched by a term and
# a wildcard (joyful: joy* and joyful), a term in two cases (Happy/happy: the larger weight),
# a multi-word term (matched against 2grams), an emoticon kept upper-case by the tokenizer (XD),
# punctuation, HTML entities and curly apostrophes.
NRC = """term,category,weight
happy,joy,1
Happy,joy,2
joy*,joy,0.5
joyful,joy,3
ha*,joy,7
smile,joy,1
xd,joy,1
abandon*,sadness,1
feel down,sadness,1
angry,anger,1
hate,anger,2
"""
AGE_GENDER = """term,category,weight
_intercept,AGE,20
work,AGE,30
school,AGE,-40
abandon*,AGE,5
_intercept,GENDER,0.5
love,GENDER,2
game,GENDER,-1.5
"""
TEXTS = [
    "I am happy today and I smile at work XD",
    "Joyful love &amp; work all day... abandoned the game, ha!",
    "happy Happy day at school :) I don’t feel down",
    "I hate this game and I am angry!!! abandonment issues",
    "ha* is not a word but joy is; joyous joyride",
    "school again, work again, love again",
    "nothing matches here at all",
    "the weekend was great, we played a game of chess and I won twice",
    "abandon ship! angry sailors hate the sea",
    "smile smile smile",
]
STAMPS = ["2024-01-03T10:00:00Z", "2024-01-01T10:00:00Z", "2024-01-01T10:00:00Z",
          "2024-01-02T09:00:00+02:00", "2024-01-05", "2024-01-04T10:00:00",
          "2024-01-02T10:00:00Z", "2024-01-06T10:00:00Z", "2024-01-01T08:00:00Z",
          "2024-01-07T10:00:00Z"]


def fixture_spec(tmp: Path, big5: str | None = "zeroshot", embedder: str = "minilm-static"):
    (tmp / "nrc.csv").write_text(NRC)
    (tmp / "ag.csv").write_text(AGE_GENDER)
    spec = spec_from_lexica({"nrc_emot": tmp / "nrc.csv", "dd_emnlp14_ageGender": tmp / "ag.csv"},
                            vader=True, big5=big5)
    return replace(spec, embedder=embedder)


# (value, lo, hi, pct) from the previous implementation (throw-away study), 95 words
LEXICON_VADER = {
    # anger: angry x2 (1) + hate x2 (2) = 6; joy: happy x3 (2, the larger of Happy/happy) +
    # joyful (3, above joy*'s 0.5) + joy, joyous, joyride (joy*: 0.5 each) + smile x4 + XD;
    # 'ha' and 'ha*' match nothing (a 2-letter stem does not expand; '*' is its own token)
    "anger": (6 / 95, None, None, None),
    "joy": (15.5 / 95, None, None, None),
    "sadness": (4 / 95, None, None, None),  # abandoned, abandonment, abandon; 'feel down'
    "age": (20 + (3 * 30 - 2 * 40 + 3 * 5) / 95, None, None, None),
    "gender_female": (0.621221674717879, None, None, None),  # logistic(0.5 + (2*2 - 3*1.5)/95)
    "vader_compound": (0.383885, None, None, None),  # interval and pct: from the norms, below
}


def _with_norms(value: float, words: int = 95) -> tuple[float, float, float, float]:
    """(value, lo, hi, pct) of a VADER score against the bundled blog norms, by hand."""
    import numpy as np

    from psyprofile.profiles.texts import load_norms

    nrm = load_norms()["dimensions"][("vader_compound", "vader")]
    half = 1.959963984540054 * nrm["c"] / words ** 0.5
    pct = float(np.interp(value, nrm["quantiles"], np.linspace(0, 100, 101)))
    return value, value - half, value + half, pct


LEXICON_VADER["vader_compound"] = _with_norms(0.383885)


def check(out: dict, expected: dict, big5_words: int = 95) -> None:
    got = {s["dimension"]: s for s in out["scores"]}
    assert list(got) == list(expected)
    for dim, want in expected.items():
        s = got[dim]
        assert s["words"] == (big5_words if s["family"] == "big5" else 95), dim
        for key, w in zip(("value", "lo", "hi", "pct"), want, strict=True):
            if w is None:
                assert s[key] is None, (dim, key)
            else:
                # 1e-5: what the same embedder gives on two code paths (and on other CPUs)
                assert s[key] == pytest.approx(w, abs=1e-9 if s["family"] != "big5" else 1e-5), (dim, key)


def test_lexicon_and_vader_scores_equal_previous_path(tmp_path):
    out = profile_texts(TEXTS, timestamps=STAMPS, min_words=10, spec=fixture_spec(tmp_path, None))
    assert out["status"] == "scored" and out["words"] == 95
    check(out, LEXICON_VADER)
    assert out["warnings"] == [
        "only 95 words: scores from fewer than 600 words are unreliable; the intervals show how much",
        "no reference norms for anger, joy, sadness, age, gender_female: no interval or percentile "
        "(zero-shot scores without norms are raw similarities)"]
    vader = next(s for s in out["scores"] if s["source"] == "vader")
    assert vader["validation"]["reference_users"] > 900  # the bundled blog norms


def test_zeroshot_static_equals_study_path(tmp_path):
    from psyprofile.features.static_embed import cache_path

    if not cache_path().exists():
        pytest.skip("the distilled static MiniLM is not built (about 2 min on first use)")
    spec = fixture_spec(tmp_path)
    out = profile_texts(TEXTS, timestamps=STAMPS, min_words=10, spec=spec)
    check(out, LEXICON_VADER | {k: v for k, v in live_study_scores(tmp_path, spec).items()
                                if k in TRAITS})


def test_zeroshot_full_model_equals_study_path(tmp_path):
    pytest.importorskip("onnxruntime")
    # all 10 messages embedded: which of them a smaller sample takes depends on message ids,
    # which a study hashes
    spec = replace(fixture_spec(tmp_path, embedder="minilm"), max_messages=16)
    out = profile_texts(TEXTS, timestamps=STAMPS, min_words=10, spec=spec)
    check(out, LEXICON_VADER | {k: v for k, v in live_study_scores(tmp_path, spec).items()
                                if k in TRAITS})


def live_study_scores(tmp_path, spec) -> dict[str, tuple]:
    """(value, lo, hi, pct) per dimension that ``profile_study`` gives the texts as one user
    of a study (the embedder run live, on this CPU), rounded to what CPUs agree on."""
    rows = [{"user_id": "p1", "message_id": f"m{i}", "created_time": ts, "message": t}
            for i, (t, ts) in enumerate(zip(TEXTS, STAMPS, strict=True))]
    pd.DataFrame(rows).to_csv(tmp_path / "one.csv", index=False)
    ws = make_study(tmp_path / "one", tmp_path / "one.csv")
    profile_study(ws, min_words=10, progress=False, spec=spec)
    df = read_scores(ws)
    return {r.dimension: tuple(round(float(x), 6) for x in (r.value, r.lo, r.hi, r.pct))
            for r in df.itertuples()}


def test_same_values_as_profile_study_for_each_user(tmp_path):
    other = ["work work school and a game", "I hate the joyless abandoned school", "happy :)",
             "XD xd joyful day at work"]
    rows = [{"user_id": u, "message_id": f"{u}{i}", "created_time": ts, "message": t}
            for u, texts, stamps in (("p1", TEXTS, STAMPS),
                                     ("p2", other, [f"2024-02-0{i + 1}" for i in range(4)]))
            for i, (t, ts) in enumerate(zip(texts, stamps, strict=True))]
    pd.DataFrame(rows).to_csv(tmp_path / "posts.csv", index=False)
    ws = make_study(tmp_path / "s", tmp_path / "posts.csv")
    spec = fixture_spec(tmp_path, None)
    profile_study(ws, min_words=10, progress=False, spec=spec)
    study = read_scores(ws)
    pseudo = ws.pseudonymizer("user")
    for user, texts, stamps in (("p1", TEXTS, STAMPS), ("p2", other, None)):
        out = profile_texts(texts, timestamps=stamps, min_words=10, spec=spec)
        want = study[study.user_id == pseudo(user)].set_index("dimension")
        assert len(out["scores"]) == len(want) == 6
        for s in out["scores"]:
            assert s["value"] == pytest.approx(want.loc[s["dimension"], "value"], abs=1e-12)
            assert s["words"] == want.loc[s["dimension"], "words"]


def test_lexicon_matching_rules(tmp_path):
    spec = fixture_spec(tmp_path, None)
    ix = index_lexicon(spec.lexica[0], "nrc", {})
    cats = [d.category for d in spec.lexica[0].dimensions]
    vocab = ["joyful", "joy", "joy*", "ha", "ha*", "happy", "abandonment", "feel down", "jo"]
    W = pd.DataFrame(ix.weights(vocab).toarray(), index=vocab, columns=cats)
    assert W.loc["joyful", "joy"] == 3 and W.loc["joy", "joy"] == 0.5
    assert W.loc["joy*", "joy"] == 0.5 and W.loc["ha*", "joy"] == 7  # a term matches itself
    assert W.loc["ha", "joy"] == 0 and W.loc["jo", "joy"] == 0 and W.loc["happy", "joy"] == 2
    assert W.loc["abandonment", "sadness"] == 1 and W.loc["feel down", "sadness"] == 1
    assert W.values.sum() == 3 + 0.5 + 0.5 + 7 + 2 + 1 + 1


def test_spec_resources_are_loaded_once(tmp_path):
    spec = fixture_spec(tmp_path, None)
    assert spec_resources(spec) is spec_resources(spec)


def test_specs_share_the_study_paths_embedder(tmp_path):
    # a second spec of the same embedder (and the study path beside it) builds no new one
    from psyprofile.features.embeddings import shared_embedder
    from psyprofile.features.static_embed import cache_path

    if not cache_path().exists():
        pytest.skip("the distilled static MiniLM is not built (about 2 min on first use)")
    a = fixture_spec(tmp_path)
    b = replace(a, inventories=("ipip50",))
    assert spec_resources(a) is not spec_resources(b)
    assert spec_resources(a).embedder is spec_resources(b).embedder \
        is shared_embedder("minilm-static")


def test_timestamps_drop_with_their_empty_texts_and_are_checked(tmp_path):
    spec = fixture_spec(tmp_path, None)
    out = profile_texts([TEXTS[0], "  ", *TEXTS[1:]], timestamps=[STAMPS[0], "2023-01-01", *STAMPS[1:]],
                        min_words=10, spec=spec)
    check(out, LEXICON_VADER)
    with pytest.raises(InputError, match=r"timestamps\[1\]: 'yesterday' is not an ISO 8601 time"):
        profile_texts(TEXTS, timestamps=[STAMPS[0], "yesterday", *STAMPS[2:]], spec=spec)
    with pytest.raises(InputError, match="timestamps: 9 given for 10 texts"):
        profile_texts(TEXTS, timestamps=STAMPS[1:], spec=spec)
    short = profile_texts(TEXTS[:1], min_words=100, spec=spec)
    assert short == {"words": 10, "status": "insufficient_text", "scores": [],
                     "languages": "en 1.00", "unsupported_sources": [],
                     "warnings": ["10 words; at least 100 are needed for a profile"]}
