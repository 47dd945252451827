"""The static table's whole words (recipe v3): which words are added, how texts are cut with
them, and how the rows are weighted."""

from __future__ import annotations

import numpy as np
import pytest

from psyprofile.features import static_embed as S
from psyprofile.features.embeddings import Wordpieces, wordpieces

pytest.importorskip("tokenizers")


def test_added_words_are_the_most_frequent_the_tokenizer_cuts():
    tok = wordpieces()
    freq = {"the": 5e-2, "0000": 4e-3, "LOL": 1e-3, "don't": 9e-4, "😂": 8e-4, "hahaha": 5e-4,
            "lol": 2e-4, "Omg": 1e-4, "cafe": 5e-5, "café": 4e-5, "zzzzqx": 1e-6}
    # "the" and "cafe"/"café" are single pieces already; "don't" is cut apart before
    # WordPiece, so it could never be matched whole; "0000" is wordfreq's stand-in for every
    # four-digit number; the emoji is one [UNK]; "LOL" and "lol" are one form
    assert S.added_words(tok, freq, n=3) == ["lol", "hahaha", "omg"]
    assert S.added_words(tok, freq, n=10)[-1] == "zzzzqx"


def test_an_added_word_takes_its_frequency_from_its_pieces():
    freq = {"lol": 0.6, "lo": 0.3, "hahaha": 0.1}
    plain = wordpieces()
    lo, l_ = plain.tok.token_to_id("lo"), plain.tok.token_to_id("##l")
    p0 = S.entry_probabilities(plain, freq)
    assert p0.sum() == pytest.approx(1.0) and p0[lo] > p0[l_] > 0
    p = S.entry_probabilities(Wordpieces(("lol",)), freq)
    # lol is its own entry now: "lo" keeps only its own frequency and "##l" none
    assert p[plain.vocab_size] == pytest.approx(0.6 / 1.2)  # 1.2: .6 x 1 entry + .3 x 1 + .1 x 3
    assert p[lo] == pytest.approx(0.3 / 1.2) and p[l_] == 0


def test_a_listed_word_is_one_entry_and_everything_else_is_cut_as_before():
    plain = wordpieces()
    words = ("lol", "hahaha")
    tok = Wordpieces(words)
    assert tok.vocab_size == plain.vocab_size + 2
    lol, haha = plain.vocab_size, plain.vocab_size + 1
    texts = ["LOL that was hahahaha", "lolcats and the weather", "nothing listed here"]
    got, before = tok.ids(texts), plain.ids(texts)
    assert got[0][0] == lol and haha in got[0]  # longest match first: hahaha + ##ha
    assert got[1][0] == lol  # a listed word is a prefix like any piece: lol ##cat ##s
    assert got[2] == before[2]
    assert Wordpieces(()).ids(texts) == before
    with pytest.raises(ValueError, match="already in the vocabulary: the"):
        Wordpieces(("the",))  # a word the model has would take a second id


def test_rows_are_centred_on_the_pieces_and_weighted_by_frequency():
    rng = np.random.default_rng(0)
    pieces, words = rng.normal(size=(6, 4)), rng.normal(size=(2, 4))
    p = np.array([0.5, 0.3, 0.2 - 1.001e-3, 0.0, 0.0, 0.0, 1e-3, 1e-6])
    table = S.post_process(pieces, words, p)
    assert table.shape == (8, 4) and table.dtype == np.float32
    centred = np.concatenate([pieces, words]) - pieces.mean(axis=0)
    weights = table[:, 0] / centred[:, 0]
    # a frequent piece weighs least, a rare word most; entries no word produces get the Zipf
    # probability of their rank, so a later one weighs more
    assert weights[0] < weights[1] < weights[2] < weights[3] < weights[4] < weights[5]
    assert weights[6] < weights[7]
    np.testing.assert_allclose(weights[6], S.SIF_A / (S.SIF_A + 1e-3), rtol=1e-5)
    np.testing.assert_allclose(table, centred * weights[:, None], rtol=1e-5)
