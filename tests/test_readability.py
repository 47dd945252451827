"""Readability formulas against worked examples, and the counts they read against hand counts."""

from __future__ import annotations

import pytest

from psyprofile.text.readability import (
    Counts,
    counts,
    flesch_kincaid_grade,
    flesch_reading_ease,
    syllables,
)


def test_formulas_are_flesch_and_kincaid():
    # One-syllable words in a six-word sentence: 206.835 - 1.015*6 - 84.6 = 116.145.
    # Three hand computations pin the three coefficients of each formula.
    # 6 one-syllable words in one sentence: 206.835 - 1.015*6 - 84.6*1 = 116.145;
    # grade 0.39*6 + 11.8*1 - 15.59 = -1.45.
    assert flesch_reading_ease(Counts(6, 1, 6)) == pytest.approx(116.145)
    assert flesch_kincaid_grade(Counts(6, 1, 6)) == pytest.approx(-1.45)
    # 20 words, 2 sentences, 30 syllables: 206.835 - 10.15 - 126.9 = 69.785; 3.9+17.7-15.59
    assert flesch_reading_ease(Counts(20, 2, 30)) == pytest.approx(69.785)
    assert flesch_kincaid_grade(Counts(20, 2, 30)) == pytest.approx(6.01)
    # 13 words, 1 sentence, 24 syllables: 206.835 - 13.195 - 156.1846 = 37.4554;
    # 5.07 + 21.7846 - 15.59 = 11.2646
    assert flesch_reading_ease(Counts(13, 1, 24)) == pytest.approx(37.45538, abs=1e-5)
    assert flesch_kincaid_grade(Counts(13, 1, 24)) == pytest.approx(11.26462, abs=1e-5)


def test_counts_by_hand():
    assert counts("The cat sat on the mat.") == Counts(6, 1, 6)
    # '!!!' ends one sentence; ':)' and '--' are not words; "don't" is one word
    assert counts("I don't know!!! Really -- happy :) now") == Counts(6, 2, 9)
    assert counts("") == Counts(0, 0, 0)
    assert counts("?!. :)") == Counts(0, 0, 0)


def test_syllables_follow_hyphenation():
    assert syllables("cat") == 1
    assert syllables("seemingly") == 3
    assert syllables("beautiful") == 3
