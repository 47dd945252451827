"""Beyond English: a Russian synthetic study from ingest to a cross-validated model (character
n-grams; the multilingual embedder in the slow variant), the multilingual-e5 embedder's
conventions (the "query: " prefix, cross-lingual neighbours, the feature set it writes), and
e5 as the zero-shot profile embedder under the per-source language guard."""

from __future__ import annotations

import csv
import json
import math
import random
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pytest

from psyprofile.errors import PsyprofileError
from psyprofile.features.embeddings import get_embedder
from psyprofile.features.multilingual import LANGUAGES, load_e5

FIXTURES = Path(__file__).parent / "fixtures"

POS = ["радость", "счастье", "прекрасно", "люблю", "улыбаюсь", "весело", "отлично", "солнечно", "восторг", "благодарен"]
NEG = ["грустно", "устал", "плохо", "тоскливо", "тревожно", "одиноко", "скучно", "злюсь", "печаль", "обидно"]
NEU = ["сегодня", "вчера", "работа", "город", "погода", "друзья", "вечером", "книга", "утром", "метро", "кофе", "магазин", "дом", "семья", "учёба", "новости", "фильм", "музыка"]


def russian_study_files(out: Path, n_users: int, n_posts: int, seed: int = 1) -> tuple[Path, Path]:
    """posts.csv and users.csv of a synthetic Russian study: each user's latent mood ``z``
    makes their posts' affect words positive with probability sigmoid(1.5 z); the outcome
    ``mood`` is ``z`` plus noise (sd 0.3)."""
    rng = random.Random(seed)
    posts, users = out / "posts.csv", out / "users.csv"
    with open(posts, "w", newline="") as fp, open(users, "w", newline="") as fu:
        p, u = csv.writer(fp), csv.writer(fu)
        p.writerow(["user_id", "text", "created_at"])
        u.writerow(["user_id", "mood"])
        for i in range(n_users):
            z = rng.gauss(0, 1)
            u.writerow([f"u{i:03d}", round(z + rng.gauss(0, 0.3), 3)])
            for j in range(n_posts):
                pos = 1 / (1 + math.exp(-1.5 * z))
                words = rng.sample(NEU, 8) + [rng.choice(POS) if rng.random() < pos else rng.choice(NEG)
                                              for _ in range(3)]
                rng.shuffle(words)
                p.writerow([f"u{i:03d}", " ".join(words).capitalize() + ".",
                            f"2024-01-{j + 1:02d}T10:00:00Z"])
    return posts, users


def cli(*args: str | Path) -> str:
    proc = subprocess.run([sys.executable, "-m", "psyprofile.cli.main", *map(str, args)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def build_study(tmp_path: Path, n_users: int, n_posts: int) -> Path:
    posts, users = russian_study_files(tmp_path, n_users, n_posts)
    study = tmp_path / "study"
    cli("init", study)
    cli("ingest", study, posts, "--quiet")
    cli("outcomes", study, users)
    return study


def cv_r(study: Path, feature_set: str) -> float:
    out = cli("train", study, "--outcome", "mood", "--features", feature_set, "--min-words", "50",
              "--folds", "5", "--bootstrap", "100", "--json", "--quiet")
    return json.loads(out)["r"]


def test_russian_study_cross_validates_with_character_ngrams(tmp_path):
    study = build_study(tmp_path, 80, 6)
    with duckdb.connect(str(study / "study.duckdb"), read_only=True) as con:
        assert con.execute("SELECT lang, count(*) FROM messages GROUP BY lang").fetchall() == [("ru", 480)]
    cli("features", study, "--chars", "2-4", "--quiet")
    # the synthetic signal is strong (measured r = .80); chance would be near 0
    assert cv_r(study, "char2to4") > 0.5


@pytest.mark.slow
def test_russian_study_cross_validates_with_the_multilingual_embedder(tmp_path):
    study = build_study(tmp_path, 80, 6)  # 480 posts: about 40 s of embedding on a busy machine
    # the 1grams' text pass counts each user's words, which --min-words needs
    cli("features", study, "--ngrams", "1", "--embeddings", "e5-multilingual", "--quiet")
    assert cv_r(study, "e5-multilingual") > 0.4  # measured r = .75


def test_embedder_writes_a_feature_set_and_its_message_cache(tmp_path):
    study = build_study(tmp_path, 4, 2)
    out = cli("features", study, "--embeddings", "e5-multilingual", "--quiet")
    assert "e5-multilingual: 384 features, 4 groups" in out
    with duckdb.connect(str(study / "study.duckdb"), read_only=True) as con:
        tables = [t for (t,) in con.execute("SHOW TABLES").fetchall() if t.startswith("emb$e5")]
        assert len(tables) == 1
        assert con.execute(f'SELECT count(*) FROM "{tables[0]}"').fetchone() == (8,)


def test_messages_are_embedded_as_e5_queries():
    text = "Сегодня вечером я читал книгу."
    ours = get_embedder("e5-multilingual").embed([text]).vectors[0]
    model = load_e5()
    assert np.dot(ours, model.query(text)) > 0.9999
    assert np.dot(ours, model.passage(text)) < 0.999  # the prefix matters, so it is the right one


def test_paraphrases_across_languages_are_neighbours():
    emb = get_embedder("e5-multilingual")
    ru, en, other = emb.embed(["Я люблю гулять в парке по выходным.",
                               "I love walking in the park on weekends.",
                               "Курс валют сегодня резко упал."]).vectors
    assert float(ru @ en) > float(ru @ other) + 0.05


def test_long_texts_are_windowed_not_cut():
    emb = get_embedder("e5-multilingual")
    e = emb.embed(["слово " * 600, "коротко"])
    assert e.n_windows.tolist()[0] >= 2 and e.n_windows.tolist()[1] == 1
    assert e.n_tokens[0] > 600


def test_declared_languages_and_options():
    assert {"ru", "en", "de", "uk", "zh", "ar"} <= set(LANGUAGES)
    with pytest.raises(PsyprofileError, match="minilm"):
        get_embedder("e5-multilingual", max_windows=1)


def test_the_registry_keeps_each_embedders_own_batch_size():
    from psyprofile.features.multilingual import BATCH

    assert get_embedder("e5-multilingual").batch_size == BATCH  # not MiniLM's 64
    assert get_embedder("e5-multilingual", batch_size=8).batch_size == 8


def test_zero_shot_item_directions_work_across_languages():
    """The IPIP items are English; a Russian self-description still lands on the right side
    of the extraversion direction (the embedder as the zero-shot Big Five's embedder)."""
    from psyprofile.profiles.spec import TRAITS
    from psyprofile.profiles.zeroshot import item_directions

    emb = get_embedder("e5-multilingual")
    D, counts = item_directions(emb, ("ipip50",))
    assert D.shape == (384, 5) and set(counts.values()) == {10}
    outgoing, withdrawn = emb.embed([
        "Я обожаю вечеринки, шумные компании и знакомиться с новыми людьми.",
        "Я предпочитаю сидеть дома один, в тишине, и ни с кем не разговаривать."]).vectors
    e = TRAITS.index("extraversion")
    assert float(outgoing @ D[:, e]) > float(withdrawn @ D[:, e]) + 0.01  # measured .023 vs -.003


# --- e5 as the zero-shot Big Five embedder, and the per-source language guard ---------------

RU_EXTRA = ["Обожаю вечеринки и шумные компании, всегда знакомлюсь с новыми людьми.",
            "Вчера я снова был душой компании и болтал со всеми до утра.",
            "Позвал двадцать друзей в гости, чем больше людей, тем веселее!",
            "На свадьбе я был в центре внимания, и мне это очень понравилось."]
RU_INTRO = ["Весь вечер сидел дома один, в тишине, и ни с кем не разговаривал.",
            "На встрече я держался в стороне и почти ничего не сказал.",
            "Не люблю толпу и незнакомых людей, рядом с ними я молчу.",
            "Провёл выходные в одиночестве с книгой, так мне лучше всего."]
EN = ["I went to the park with my friends today and we had a great time together.",
      "Work was long but the evening walk by the river made up for it completely.",
      "We cooked dinner for the whole family and laughed about old stories all night.",
      "Tomorrow I will visit my grandmother and help her in the garden."]
E5_SOURCE = "zeroshot:ipip50:e5-multilingual"


def e5_spec():
    """The NRC emotion fixture, VADER, and zero-shot Big Five from e5 (IPIP-50 items)."""
    from dataclasses import replace

    from psyprofile.profiles.spec import spec_from_lexica

    spec = spec_from_lexica({"nrc_emot": FIXTURES / "profiles" / "nrc_emot.csv"}, vader=True,
                            big5="zeroshot")
    return replace(spec, embedder="e5-multilingual", inventories=("ipip50",))


def test_each_source_scores_only_the_users_writing_in_its_languages(tmp_path):
    import pandas as pd
    from test_profiles import make_study

    from psyprofile.profiles.study import profile_study, read_scores, read_users

    posts = {"ru_extra": RU_EXTRA, "ru_intro": RU_INTRO, "en": EN,
             "mixed": EN[:3] + RU_EXTRA[:1]}  # a quarter of the words Russian
    rows = [{"user_id": u, "message_id": f"{u}{i}", "created_time": f"2024-01-0{i + 1}T00:00:00Z",
             "message": t} for u, texts in posts.items() for i, t in enumerate(texts)]
    pd.DataFrame(rows).to_csv(tmp_path / "posts.csv", index=False)
    ws = make_study(tmp_path / "s", tmp_path / "posts.csv")
    report = profile_study(ws, min_words=1, progress=False, spec=e5_spec())
    assert (report.scored, report.unsupported_language) == (4, 0)
    assert "2 scored users write mostly in languages some sources" in report.summary()
    pseudo = ws.pseudonymizer("user")
    scores = read_scores(ws)
    sources = scores.groupby("user_id")["source"].agg(set)
    both = {"nrc_emot", "vader", E5_SOURCE}
    assert sources[pseudo("ru_extra")] == sources[pseudo("ru_intro")] == {E5_SOURCE}
    assert sources[pseudo("en")] == sources[pseudo("mixed")] == both
    users = read_users(ws).set_index("user_id")
    assert list(users.loc[pseudo("ru_intro"), "unsupported_sources"]) == ["nrc_emot", "vader"]
    assert list(users.loc[pseudo("en"), "unsupported_sources"]) == []
    assert (users["status"] == "scored").all()
    from psyprofile.profiles.card import user_card

    assert "No score from nrc_emot, vader" in user_card(ws, pseudo("ru_extra"))
    assert "No score from" not in user_card(ws, pseudo("en"))
    # a Russian self-description lands on the right side of the English items' direction
    ext = scores[scores.dimension == "extraversion"].set_index("user_id")["value"]
    assert ext[pseudo("ru_extra")] > ext[pseudo("ru_intro")]
    # no blog norms for e5 (MiniLM's are not reused): z and percentiles within the study
    refs = scores.drop_duplicates("source").set_index("source")["reference"]
    assert refs[E5_SOURCE] == "this study (4 scored users)" and "blog" in refs["vader"]
    # every row's evidence names its source's languages
    langs = scores.drop_duplicates("source").set_index("source")["languages"]
    assert langs["nrc_emot"] == "en" and langs["vader"] == "en"
    assert set(langs[E5_SOURCE].split()) == set(LANGUAGES)


def test_one_person_gets_the_same_per_source_rule():
    from psyprofile.profiles.texts import profile_texts

    ru = profile_texts(RU_EXTRA, min_words=1, spec=e5_spec())
    assert ru["status"] == "scored" and ru["unsupported_sources"] == ["nrc_emot", "vader"]
    assert {s["source"] for s in ru["scores"]} == {E5_SOURCE}
    assert any("no score: nrc_emot, vader" in w for w in ru["warnings"])
    assert "ru" in ru["scores"][0]["evidence"]["languages"]
    en = profile_texts(EN, min_words=1, spec=e5_spec())
    assert en["status"] == "scored" and en["unsupported_sources"] == []
    assert {s["source"] for s in en["scores"]} == {"nrc_emot", "vader", E5_SOURCE}


def test_without_a_source_for_the_language_nothing_is_scored():
    from dataclasses import replace

    from psyprofile.profiles.texts import profile_texts

    english_only = replace(e5_spec(), big5=None)  # the lexicon and VADER: English
    out = profile_texts(RU_EXTRA, min_words=1, spec=english_only)
    assert out["status"] == "unsupported_language" and out["scores"] == []
    assert out["unsupported_sources"] == ["nrc_emot", "vader"]
    assert "they take en" in out["warnings"][0]


def test_profile_cli_takes_the_e5_embedder(tmp_path):
    study = tmp_path / "s"
    cli("init", study)
    proc = subprocess.run([sys.executable, "-m", "psyprofile.cli.main", "profile", str(study),
                           "--big5", "zeroshot", "--embedder", "e5-multilingual", "--quiet"],
                          capture_output=True, text=True, timeout=300)
    # accepted, and passed on: the spec is built and the empty study is what stops it
    assert proc.returncode != 0 and "holds no posts" in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


def test_service_config_takes_the_e5_embedder(tmp_path):
    from psyprofile.api.service import _spec

    spec = _spec({"big5": "zeroshot", "embedder": "e5-multilingual"}, tmp_path)
    assert spec.embedder == "e5-multilingual" and E5_SOURCE.replace("ipip50", "ipip50+ipipneo120") \
        in spec.sources()
    with pytest.raises(PsyprofileError, match="e5-multilingual"):  # the choices are named
        _spec({"big5": "zeroshot", "embedder": "e6"}, tmp_path)
