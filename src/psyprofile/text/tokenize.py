r"""The social-media tokenizer every feature (ngrams, lexica, style) is computed from.

``tokenize(text)`` returns lower-cased tokens, except emoticons, which keep their case
(``:D`` and ``:d`` differ, as do ``XD`` and ``xd``). Before splitting, a text is normalised:

* HTML entities are decoded (``&amp;`` -> ``&``, ``&nbsp;`` -> a space, ``&#39;`` -> ``'``);
* the common mojibake of UTF-8 read as cp1252 (``itâ€™s``, ``cafÃ©``) is repaired by
  re-decoding just the runs of characters that spell a valid UTF-8 byte sequence in cp1252,
  and stray C1 controls (cp1252 read as Latin-1, ``\x92`` for ``’``) become their cp1252
  characters. Texts that are pure ASCII skip all of this. On the blog corpus this agrees
  with ``ftfy.fix_text`` on all but 77 of 31,674 posts (ftfy also folds full-width
  punctuation); ftfy was not used because it took longer than the whole tokenizer (6.0 s
  against 5.0 s for 5,000 posts, where this repair took 0.19 s);
* curly apostrophes (``’``, ``‘``, ``ʼ``) become ``'``, so ``don’t`` and ``don't`` agree.

Tokens, in order of precedence:

* **url**: ``http(s)://...``, ``www....`` (trailing punctuation excluded, balanced
  parentheses kept) and bare domains on a common top-level domain (``example.com/path``);
* **mention** ``@user_1``, which becomes the one token ``<user>`` (:data:`MENTION`): a handle
  names another person, so features never carry it (DLATK's tokenizer does the same with
  ``<USER>``); the raw text keeps it. **hashtag** ``#BlackLivesMatter`` (not ``#1``; not after
  a letter, so ``C#`` and ``me@mail`` are not tags);
* **emoticon**: Western (``:)``, ``:-P``, ``;-)``, ``:'(``, ``>:(``, ``:))``, ``=D``),
  ``XD``/``xD`` (not ``xp``, which is mostly Windows XP), hearts ``<3`` ``</3``, Eastern (``^_^``, ``o_O``, ``-_-``, ``T_T``); a
  mouth that is a letter only counts when no letter or digit follows (``re:dog`` is not
  ``:d``);
* **number**: digits with internal ``.``, ``,``, ``:``, ``/`` or ``-`` separators
  (``3.14``, ``1,000``, ``10:30``, ``2004-05``); signs and ``%`` are separate tokens
  (``10%`` -> ``10``, ``%``), as in DLATK; plain digits glued to letters form a word
  (``1st``, ``mp3``, ``1-year-old``), separated ones do not (``4:30pm`` -> ``4:30``, ``pm``);
* **word**: letters/digits/underscore with single internal apostrophes or hyphens, so
  contractions (``don't``, ``y'all``) and hyphenated words (``well-being``) are one token;
  elongations are kept as written (``soooo``, see :func:`is_elongated`); the blog corpus's
  URL placeholder ``urlLink`` is an ordinary word (``urllink``);
* **emoji**: one grapheme-like unit each, including skin-tone modifiers (``👍🏽``), ZWJ
  sequences (``👩‍👩‍👧``), flags (``🇩🇪``, ``🏴󠁧󠁢󠁥󠁮󠁧󠁿``) and keycaps (``1️⃣``);
* **punct**: runs of ``!``/``?`` (``!!!``, ``?!``), of dots (``...``), of hyphens
  (``--``) are one token; any other non-space character is a token of its own.

Splitting is one pattern (``tokenize`` lower-cases the text first and only walks the
tokens when an upper-case emoticon may be present), applied only to the space-separated
chunks that are not a plain word. The pattern uses the ``regex`` module, whose ``\w``
includes combining marks, so Devanagari words and decomposed accents stay whole; ASCII texts,
which have no such marks, use the same pattern in the standard ``re``, which is faster. On
the blog corpus this is 2x faster than one ``regex`` ``findall`` per text, with identical
tokens for every post.

Agreement with DLATK's tokenizer (``bench/ingest.py``): 97.8% of the tokens DLATK finds in
the blog corpus are also found by this tokenizer in the same post. Most of the rest are by
design: DLATK does not repair mojibake (``itâ€™s`` gives it ``itâ``, ``€``, ``™``, ``s``),
splits ``!!!`` into three tokens and ``don’t`` at the curly apostrophe, and keeps ``a--b``
as one word; it also joins phone numbers across spaces and cuts URLs at the domain.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from functools import lru_cache

import regex

MENTION = "<user>"  # the token every @mention becomes

TOKEN_KINDS: tuple[str, ...] = (
    "url", "mention", "hashtag", "emoji", "emoticon", "number", "word", "punct",
)

_TLDS = (
    "com|org|net|edu|gov|mil|info|biz|io|ly|tv|fm|uk|ca|de|fr|au|nl|jp|ru|es|ch|se|cn|br|"
    "eu|gl|gd|cc|ws|kr|sg|nz|ie"
)
# Emoticons, split by first character so that each is tried only where it can start. A
# token never starts right after a word character (words are maximal runs), so these need no
# look-behind; a letter mouth must end the token (``re:dog`` is not ``:d``).
_WORDLIKE_EMOTICON = r"""
    xd+(?!\w)                                  # XD, xD (not xp: Windows XP)
  | [o0tux]_[o0tux](?!\w)                      # o_O, T_T, x_x, u_u
  | [o0]\.[o0](?!\w)                           # o.O
  | 8-[)(dp](?!\w)
"""
_SYMBOL_EMOTICON = r"""
    >?[:;=][\-'^o]?(?:[)(]+|[\]\[/\\|*@}{<>3])
  | >?[:;=][\-'^]?(?:d+|[posxb])(?!\w)
  | \([\-']?[:;]                               # reversed smile (:
  | \^[_\-.]?\^                                # ^_^ ^^ ^.^
  | -_-|>_<|;_;|\*_\*|\._\.
  | <[/\\]?3+(?!\d)                            # hearts <3 </3
"""
_EMOTICON = rf"(?:{_WORDLIKE_EMOTICON}|{_SYMBOL_EMOTICON})"

_EMOJI_UNIT = r"(?:(?![©®™])\p{Extended_Pictographic}[\uFE0E\uFE0F\p{Emoji_Modifier}]*)"
_KEYCAP = r"[0-9#*]\uFE0F?\u20E3"
_EMOJI = rf"""
    [\U0001F1E6-\U0001F1FF]{{2}}                                     # regional-indicator flag
  | {_EMOJI_UNIT}(?:\u200D{_EMOJI_UNIT})*[\U000E0020-\U000E007F]*  # ZWJ and tag sequences
"""

# What the ``regex`` module's ``\s`` matches among ASCII characters; the standard ``re``
# (like ``str.isspace``) also counts \x1c-\x1f, so its patterns spell the class out.
_ASCII_SPACE = r"\t\n\x0b\x0c\r\x20"


def _token_pattern(space: str, emoji: bool) -> str:
    """The tokenizer's pattern with ``space`` as the body of its whitespace class; without
    the ``emoji`` alternatives (keycaps, emoji), which only match non-ASCII text."""
    # One URL character, a parenthesised group of them, and a character a URL may end with.
    u = rf"""[^{space}()<>"]"""
    uparen = rf"""\([^{space}()<>"]*\)"""
    uend = rf"""[^{space}()<>"'.,;:!?\]}}*]"""
    url_tail = rf"(?:{uparen}|{u})*(?:{uparen}|{uend})"
    # Leftmost alternative wins, so the order matters for both meaning (keycaps before
    # numbers, emoticons before words and punctuation) and speed (common kinds early).
    # Leading spaces are eaten inside the match, so the alternatives are tried at token
    # starts only; findall returns the one group.
    return rf"""
[{space}]*(
    (?:https?://|www\.){url_tail}
  {f"| {_KEYCAP}" if emoji else ""}
  | {_WORDLIKE_EMOTICON}
  | \d+(?:[.,:/\-]\d+)+|\d+(?!\w)(?!['\-]\w)   # 4:30pm -> 4:30 pm, but 1st and 1-year-old
  | \w+(?:['\-]\w+)*
        (?:\.(?:\w+(?:-\w+)*\.)*(?:{_TLDS})(?![\w\-])(?:/{url_tail}|/)?)?  # bare domain
  | @(?<!\w@)\w+
  | \#(?<!\w\#)\w*[^\W\d_]\w*
  | {_SYMBOL_EMOTICON}
  | [!?]+|\.{{2,}}|-{{2,}}
  {f"| {_EMOJI}" if emoji else ""}
  | [^{space}]
)"""


_TOKEN_RE = regex.compile(_token_pattern(r"\s", emoji=True), regex.VERBOSE | regex.IGNORECASE)
# On ASCII text (85% of the blog posts) the standard ``re`` gives the same tokens 1.75x
# faster; it lacks ``\p{...}`` (emoji) and counts combining marks out of ``\w``, neither of
# which ASCII text has. Its pattern has only lower-case letters, so lower-cased text needs no
# IGNORECASE (12% faster again).
_ASCII_TOKEN_RE = re.compile(_token_pattern(_ASCII_SPACE, emoji=False), re.VERBOSE | re.IGNORECASE)
_ASCII_LOWER_TOKEN_RE = re.compile(_token_pattern(_ASCII_SPACE, emoji=False), re.VERBOSE)
_EMOTICON_RE = regex.compile(rf"{_EMOTICON}\Z", regex.VERBOSE | regex.IGNORECASE)
# Texts with an upper-case letter that may belong to an emoticon take the case-preserving
# (per-token) path; false alarms cost a little time, misses would lose case. The checks use
# the standard library's ``re`` and substring tests because a literal-led search there is
# about 50x faster than one search for the whole alternation.
_WESTERN_HINTS = [re.compile(eye + r"['\-^]?[DPOSXB]") for eye in ":;="]
_LETTER_HINTS = [  # XD, xD, 8-D; 8-P
    re.compile(r"D(?<=[xX]D|-D)"),
    re.compile(r"P(?<=-P)"),
]
_EASTERN_HINTS = [  # o_O, T_T, O_o; o.O, O.o
    re.compile(r"_(?:(?<=[o0txu]_)[OTXU]|(?<=[OTXU]_)[oO0TXUtxu])"),
    re.compile(r"\.(?:(?<=[oO0]\.)O|(?<=O\.)[o0])"),
]


def _may_hold_upper_emoticon(text: str) -> bool:
    return (
        any(h.search(text) for h in _WESTERN_HINTS)
        or any(h.search(text) for h in _LETTER_HINTS)
        or any(h.search(text) for h in _EASTERN_HINTS)
    )


_APOSTROPHES = ("\u2019", "\u2018", "\u02bc")

# cp1252 renderings of UTF-8 lead and continuation bytes (0x81, 0x8D, 0x8F, 0x90 and 0x9D
# are undefined in cp1252 and survive as the same code points).
_CONT = "[\u20ac\x81\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\x8d" \
        "\u017d\x8f\x90\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a" \
        "\u0153\x9d\u017e\u0178\xa0-\xbf]"
_MOJIBAKE_RE = re.compile(
    rf"[\xc2-\xdf]{_CONT}|[\xe0-\xef]{_CONT}{{2}}|[\xf0-\xf4]{_CONT}{{3}}"
)
_UNDEFINED_CP1252 = {0x81, 0x8D, 0x8F, 0x90, 0x9D}
_C1_RE = re.compile("[\x80-\x9f]")
_C1_TO_CP1252 = {
    chr(b): bytes([b]).decode("cp1252") for b in range(0x80, 0xA0) if b not in _UNDEFINED_CP1252
}


def _redecode(m: re.Match) -> str:
    s = m.group()
    try:
        raw = bytes(
            ord(c) if ord(c) in _UNDEFINED_CP1252 else c.encode("cp1252")[0] for c in s
        )
        return raw.decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return s


def normalize(text: str) -> str:
    """The text the tokenizer splits: entities decoded, mojibake repaired, apostrophes unified."""
    if "&" in text:
        text = html.unescape(text)
    if not text.isascii():
        if _MOJIBAKE_RE.search(text):
            text = _MOJIBAKE_RE.sub(_redecode, text)
        if _C1_RE.search(text):
            text = _C1_RE.sub(lambda m: _C1_TO_CP1252.get(m.group(), m.group()), text)
        for apostrophe in _APOSTROPHES:
            text = text.replace(apostrophe, "'")
    return text


# ``str.split`` also splits at these, which the patterns do not count as space.
_SPLIT_ONLY_RE = re.compile("[\x1c-\x1f]")
# ASCII punctuation that is a token of its own after a word (not ``_``, a word character),
# and before one (not ``@ # : ; =``, which start mentions, hashtags and ``:p``-like emoticons).
_AFTER_WORD = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^`{|}~")
_BEFORE_WORD = _AFTER_WORD - frozenset("@#:;=")
_XD_RE = re.compile("xd+")  # the emoticon that could end a word-like prefix early


def tokenize(text: str) -> list[str]:
    """Split one post into tokens (see the module docstring for the rules)."""
    tokens = _split(normalize(text))
    if "@" in text or "&" in text:  # an entity (&#64;) may spell the @
        return [MENTION if t[0] == "@" and len(t) > 1 else t for t in tokens]
    return tokens


_MASK_RE = regex.compile(r"(?<![\w@])@\w+")


def mask_mentions(text: str) -> str:
    """``text`` with every @mention replaced by :data:`MENTION`, for features computed from
    the raw characters (character n-grams) rather than from tokens."""
    return _MASK_RE.sub(MENTION, text) if "@" in text else text


def _split(text: str) -> list[str]:
    """The tokens of normalised ``text``, mentions as written."""
    is_ascii = text.isascii()
    if _may_hold_upper_emoticon(text):
        found = (_ASCII_TOKEN_RE if is_ascii else _TOKEN_RE).findall(text)
        return [t if _EMOTICON_RE.match(t) else t.lower() for t in found]
    text = text.lower()
    find = (_ASCII_LOWER_TOKEN_RE if is_ascii else _TOKEN_RE).findall
    if _SPLIT_ONLY_RE.search(text):
        return find(text)
    # No token holds a space, and no match looks past the spaces around it (a space and the
    # end of the text pass the same look-arounds), so the tokens of the text are those of its
    # space-separated chunks. 95% of the chunks need no pattern: a run of letters is one
    # token (only the word alternative takes all of it; ``xd`` is an emoticon but the same
    # string), as is a contraction (``don't``, unless its head is ``xd``), and one
    # punctuation mark after or before the letters is a token of its own.
    tokens: list[str] = []
    add = tokens.append
    for chunk in text.split():
        if chunk.isalpha():
            add(chunk)
        elif chunk[-1] in _AFTER_WORD and chunk[:-1].isalpha():
            add(chunk[:-1])
            add(chunk[-1])
        elif chunk[0] in _BEFORE_WORD and chunk[1:].isalpha():
            add(chunk[0])
            add(chunk[1:])
        else:
            head, apostrophe, tail = chunk.partition("'")
            if apostrophe and head.isalpha() and tail.isalpha() and not _XD_RE.fullmatch(head):
                add(chunk)
            else:
                tokens += find(chunk)
    return tokens


def tokenize_many(texts: Iterable[str]) -> list[list[str]]:
    """Tokens of each text, in order; one list per text."""
    return [tokenize(t) for t in texts]


_NUMBER_RE = regex.compile(r"\d+(?:[.,:/\-]\d+)*\Z")
_EMOJI_RE = regex.compile(rf"(?:{_KEYCAP}|{_EMOJI})\Z", regex.VERBOSE)


# Token frequencies are Zipfian, so a cache answers most calls without any regex.
@lru_cache(maxsize=1 << 17)
def token_kind(tok: str) -> str:
    """The kind of a token produced by :func:`tokenize`, one of :data:`TOKEN_KINDS`."""
    first = tok[:1]
    if not first:
        raise ValueError("token_kind() of an empty string")
    if tok == MENTION:
        return "mention"
    if len(tok) > 1 and first in "@#":
        return "mention" if first == "@" else "hashtag"
    if _EMOTICON_RE.match(tok):
        return "emoticon"
    if _NUMBER_RE.match(tok):
        return "number"
    if _EMOJI_RE.match(tok):
        return "emoji"
    if first.isalnum() or first == "_":
        return "url" if "." in tok or "/" in tok else "word"
    return "punct"


_ELONGATED_RE = regex.compile(r"([^\W\d_])\1\1")


def is_elongated(tok: str) -> bool:
    """True when a letter repeats three or more times in a row (``soooo``, ``yesss``)."""
    return _ELONGATED_RE.search(tok) is not None
