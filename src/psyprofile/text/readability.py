"""Readability of a text: Flesch Reading Ease and the Flesch–Kincaid grade level.

Both formulas read three counts of the text:

* *words*: whitespace-separated pieces holding at least one letter or digit (so ``--`` and
  ``:)`` are not words, ``don't`` and ``singer-songwriter`` are one each);
* *sentences*: pieces of text ended by ``.``, ``!`` or ``?`` (a run of them ends one
  sentence) or by the end of the text, that hold at least one word;
* *syllables*: per word, one more than the hyphenation points pyphen (Hunspell's en_US
  patterns) finds. Hyphenation undercounts some words (``australian`` has 2), as does every
  dictionary-free counter; it is the counter readability tools in Python commonly use.

Reading Ease = 206.835 − 1.015 · words/sentences − 84.6 · syllables/words (Flesch, 1948,
*A new readability yardstick*, J. Applied Psychology 32(3)); higher is easier, about 0..100
for ordinary prose. Grade = 0.39 · words/sentences + 11.8 · syllables/words − 15.59 (Kincaid,
Fishburne, Rogers & Chissom, 1975, Research Branch Report 8-75), a US school grade.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pyphen
import regex

_SENTENCES = regex.compile(r"[^.!?]+")
_WORDISH = regex.compile(r"[\p{L}\p{N}]")
_STRIP = regex.compile(r"[^\p{L}\p{N}'\-]")


@functools.cache
def _hyphenator() -> pyphen.Pyphen:
    return pyphen.Pyphen(lang="en_US")


@functools.lru_cache(maxsize=500_000)
def syllables(word: str) -> int:
    """Syllables of one word (lower-cased, punctuation around it removed), at least 1."""
    return len(_hyphenator().positions(word)) + 1


def _words(piece: str) -> list[str]:
    return [w for w in (_STRIP.sub("", p).lower() for p in piece.split()) if _WORDISH.search(w)]


@dataclass(frozen=True)
class Counts:
    """The counts the formulas read: words, sentences and syllables of a text."""

    words: int
    sentences: int
    syllables: int


def counts(text: str) -> Counts:
    """Words, sentences and syllables of ``text`` (see the module docstring)."""
    n_words = n_sentences = n_syll = 0
    for piece in _SENTENCES.findall(text):
        words = _words(piece)
        if words:
            n_sentences += 1
            n_words += len(words)
            n_syll += sum(syllables(w.replace("'", "").replace("-", "")) for w in words)
    return Counts(n_words, n_sentences, n_syll)


def flesch_reading_ease(c: Counts) -> float:
    """Flesch Reading Ease of counts ``c`` (needs ``c.words > 0``)."""
    return 206.835 - 1.015 * c.words / c.sentences - 84.6 * c.syllables / c.words


def flesch_kincaid_grade(c: Counts) -> float:
    """Flesch–Kincaid grade level of counts ``c`` (needs ``c.words > 0``)."""
    return 0.39 * c.words / c.sentences + 11.8 * c.syllables / c.words - 15.59
