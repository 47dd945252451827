"""Word clouds of DLA results: files, sizes, and no cloud without significant features."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pandas as pd
from PIL import Image

from psyprofile.report.clouds import write_clouds

WORDS = ["work", "wife", "office", "kids", "meeting", "lol", "school", "class", "mom", "omg"]


def _results(p_corrected: float) -> pd.DataFrame:
    coef = [0.30, 0.25, 0.2, 0.15, 0.1, -0.3, -0.25, -0.2, -0.15, -0.1]
    words = pd.DataFrame({"outcome": "age", "feature": WORDS, "feature_set": "1gram_occ0.05",
                          "coef": coef, "p_corrected": p_corrected})
    topics = pd.DataFrame({"outcome": "age", "feature": ["12", "7", "99"],
                           "feature_set": "fb2000_cp", "coef": [0.3, -0.2, 0.1],
                           "p_corrected": [p_corrected, p_corrected, 0.9]})
    return pd.concat([words, topics], ignore_index=True)


TOPICS = {"fb2000_cp": {"12": {"work": 0.1, "office": 0.05, "boss": 0.04},
                        "7": {"lol": 0.2, "omg": 0.1, "haha": 0.08}}}


def test_clouds_written_as_png_and_svg(tmp_path):
    freq = {"1gram_occ0.05": {w: 10.0 * (i + 1) for i, w in enumerate(WORDS)}}
    rep = write_clouds(_results(0.001), tmp_path, frequencies=freq, topic_words=TOPICS,
                       size=(800, 400))
    names = sorted(p.name for p in rep.files)
    assert names == sorted(
        f"{stem}.{ext}" for ext in ("png", "svg") for stem in (
            "age_1gram_occ0.05_pos", "age_1gram_occ0.05_neg",
            "age_fb2000_cp_pos_01_topic_12", "age_fb2000_cp_neg_01_topic_7"))
    assert rep.notes == []
    for path in rep.files:
        if path.suffix == ".png":
            with Image.open(path) as im:
                assert im.size == (800, 400)
        else:
            root = ET.parse(path).getroot()
            assert root.tag.endswith("svg")
            # the title is vector text, so a reader (or a screen reader) finds it
            assert "age" in ET.tostring(root, encoding="unicode")


def test_no_cloud_when_nothing_is_significant(tmp_path):
    rep = write_clouds(_results(0.2), tmp_path / "c", alpha=0.05, topic_words=TOPICS)
    assert rep.files == []
    assert list((tmp_path / "c").iterdir()) == []
    assert "age / 1gram_occ0.05 / positive: no feature significant at p_corrected < 0.05; " \
           "no cloud written" in rep.notes
    assert len(rep.notes) == 4


def test_topic_without_words_is_noted(tmp_path):
    res = _results(0.001)
    rep = write_clouds(res[res.feature_set == "fb2000_cp"], tmp_path,
                       topic_words={"fb2000_cp": {"12": {"work": 0.1}}})
    assert [p.name for p in rep.files] == ["age_fb2000_cp_pos_01_topic_12.png",
                                           "age_fb2000_cp_pos_01_topic_12.svg"]
    assert rep.notes == ["age / fb2000_cp / topic 7: its words are not in the lexicon; "
                         "no cloud written"]


def test_formats_limit_the_files_written(tmp_path):
    rep = write_clouds(_results(0.001), tmp_path, topic_words=TOPICS, formats=("png",))
    assert sorted(p.name for p in rep.files) == sorted(
        f"{stem}.png" for stem in ("age_1gram_occ0.05_pos", "age_1gram_occ0.05_neg",
                                   "age_fb2000_cp_pos_01_topic_12", "age_fb2000_cp_neg_01_topic_7"))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in rep.files)
