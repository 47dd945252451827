"""The social-media tokenizer: exact token lists for the cases features depend on."""

from __future__ import annotations

import pytest

from psyprofile.text.tokenize import (
    TOKEN_KINDS,
    is_elongated,
    normalize,
    token_kind,
    tokenize,
    tokenize_many,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # URLs: query strings kept, trailing punctuation and unbalanced parentheses left out
        ("see https://example.com/search?q=a&b=c.",
         ["see", "https://example.com/search?q=a&b=c", "."]),
        ("(www.foo.org/wiki/x_(y))", ["(", "www.foo.org/wiki/x_(y)", ")"]),
        ("go to example.com/path, now", ["go", "to", "example.com/path", ",", "now"]),
        ("bbc.co.uk rocks", ["bbc.co.uk", "rocks"]),
        # a missing space after a full stop is not a domain
        ("it.It was fine.So", ["it", ".", "it", "was", "fine", ".", "so"]),
        ("urlLink here", ["urllink", "here"]),
        # mentions and hashtags
        ("@user_1 hi", ["<user>", "hi"]),
        ("#BlackLivesMatter now", ["#blacklivesmatter", "now"]),
        ("#1 C# me@mail.com", ["#", "1", "c", "#", "me", "@", "mail.com"]),
        # emoji: modifiers, ZWJ sequences, flags, keycaps and tag sequences are one token
        ("ok👍🏽", ["ok", "👍🏽"]),
        ("👩\u200d👩\u200d👧 family", ["👩\u200d👩\u200d👧", "family"]),
        ("🇩🇪🇫🇷", ["🇩🇪", "🇫🇷"]),
        ("1\ufe0f\u20e3 ❤\ufe0f 😂😂", ["1\ufe0f\u20e3", "❤\ufe0f", "😂", "😂"]),
        ("🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f",
         ["🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"]),
        # emoticons, also glued to words; letter mouths keep their case
        ("great:) hey:-P", ["great", ":)", "hey", ":-P"]),
        ("<3 </3 <30", ["<3", "</3", "<", "30"]),
        (":D XD xD :P ;-) :'( >:( :)) (:",
         [":D", "XD", "xD", ":P", ";-)", ":'(", ">:(", ":))", "(:"]),
        ("^_^ o_O -_- T_T 8-)", ["^_^", "o_O", "-_-", "T_T", "8-)"]),
        # a letter after the colon is not a mouth when the word goes on
        ("re:dog", ["re", ":", "dog"]),
        ("Windows XP", ["windows", "xp"]),
        # HTML entities, contractions, curly apostrophes
        ("Tom &amp; Jerry&nbsp;said &#39;hi&#39;", ["tom", "&", "jerry", "said", "'", "hi", "'"]),
        ("don’t y'all I'm", ["don't", "y'all", "i'm"]),
        # elongations and hyphens
        ("Soooo well-being", ["soooo", "well-being"]),
        ("a--b", ["a", "--", "b"]),
        # numbers
        ("3.14 1,000,000 10% 10:30 $5 -5",
         ["3.14", "1,000,000", "10", "%", "10:30", "$", "5", "-", "5"]),
        ("1st mp3 1-year-old 2004-05 4:30PM",
         ["1st", "mp3", "1-year-old", "2004-05", "4:30", "pm"]),
        # punctuation runs
        ("Wow!!! really?! hmm... ok.", ["wow", "!!!", "really", "?!", "hmm", "...", "ok", "."]),
        # mixed case and mojibake
        ("HeLLo WORLD", ["hello", "world"]),
        # combining marks belong to the word (Devanagari vowel signs, decomposed accents)
        ("हिन्दी nai\u0308ve", ["हिन्दी", "nai\u0308ve"]),
        ("itâ€™s â€œokâ€\x9d cafÃ©", ["it's", "“", "ok", "”", "café"]),
        ("it\x92s", ["it's"]),
        ("", []),
        ("  \n\t ", []),
    ],
)
def test_tokenize_exact(text: str, expected: list[str]) -> None:
    assert tokenize(text) == expected


def test_case_is_kept_only_for_emoticons() -> None:
    assert tokenize("LOL :D XD o_O") == ["lol", ":D", "XD", "o_O"]
    # each of these alone must be spotted as needing the case-preserving path
    for emoticon in [":D", ";P", "=D", ":-O", ":O)", ">:D", "XDD", "xD", "8-D", "8-P", "O_o",
                     "T_T", "x_X", "o.O", "O.o"]:
        assert tokenize(f"ok {emoticon}") == ["ok", emoticon]
    # the case-preserving path must split exactly like the lower-case one
    text = "Hey:-P Visit WWW.Example.COM/A and @Bob #Tag 3.14 DON'T!!!"
    assert [t.lower() for t in tokenize(text)] == tokenize(text.lower())


def test_normalize_decodes_and_repairs() -> None:
    assert normalize("a&nbsp;b &lt;3") == "a\xa0b <3"
    assert normalize("Ã¼ber") == "über"
    # a lone accented capital is not mojibake and stays
    assert normalize("Ã and Â") == "Ã and Â"


def test_tokenize_many_keeps_order() -> None:
    assert tokenize_many(["b a", "", "c"]) == [["b", "a"], [], ["c"]]
    assert tokenize_many(iter(["x"])) == [["x"]]


@pytest.mark.parametrize(
    ("tok", "kind"),
    [
        ("https://example.com/x", "url"), ("www.x.org", "url"), ("example.com", "url"),
        ("@user_1", "mention"), ("#tag", "hashtag"), ("👍🏽", "emoji"), ("🇩🇪", "emoji"),
        ("1\ufe0f\u20e3", "emoji"), (":D", "emoticon"), ("<3", "emoticon"), ("o_O", "emoticon"),
        ("3.14", "number"), ("1,000", "number"), ("don't", "word"), ("1st", "word"),
        ("urllink", "word"), ("!!!", "punct"), ("@", "punct"), ("#", "punct"), ("©", "punct"),
    ],
)
def test_token_kind(tok: str, kind: str) -> None:
    assert kind in TOKEN_KINDS
    assert token_kind(tok) == kind


def test_token_kind_of_every_token_is_known() -> None:
    toks = tokenize("Hi @a #b :) 👍 3 x.com ! well-being")
    assert [token_kind(t) for t in toks] == [
        "word", "mention", "hashtag", "emoticon", "emoji", "number", "url", "punct", "word",
    ]


def test_token_kind_rejects_empty() -> None:
    with pytest.raises(ValueError):
        token_kind("")


@pytest.mark.parametrize(
    ("tok", "expected"),
    [("soooo", True), ("yesss", True), ("aaa", True), ("good", False), ("hmm", False),
     ("1000", False), ("!!!", False)],
)
def test_is_elongated(tok: str, expected: bool) -> None:
    assert is_elongated(tok) is expected


def test_huge_text() -> None:
    unit = "I'm sooo happy :) see example.com/x!!! #yay @bob 3.14 👍🏽\n"
    unit_tokens = ["i'm", "sooo", "happy", ":)", "see", "example.com/x", "!!!", "#yay", "<user>",
                   "3.14", "👍🏽"]
    copies = 1_000_000 // len(unit) + 1
    toks = tokenize(unit * copies)
    assert len(toks) == len(unit_tokens) * copies
    assert toks[: 2 * len(unit_tokens)] == unit_tokens * 2


def _one_regex_findall(text: str) -> list[str]:
    """The tokenizer as its definition: one ``regex`` findall over the whole text."""
    from psyprofile.text import tokenize as tk

    text = normalize(text)
    if not tk._may_hold_upper_emoticon(text):
        return tk._TOKEN_RE.findall(text.lower())
    return [t if tk._EMOTICON_RE.match(t) else t.lower() for t in tk._TOKEN_RE.findall(text)]


# Pieces where the shortcuts could go wrong: words next to emoticon letters (xd, o_o, o.o),
# URL starts, a trailing comma or full stop, characters str.split() and the patterns disagree
# on (\x1c-\x1f are not spaces to the patterns), non-ASCII spaces, letters that fold case
# (Kelvin sign, long s, dotted I, final sigma), combining marks, emoji.
_PIECES = ["xd", "XD", "xD", "x", "d", "o", "O", "0", "_", ".", ",", ":", ";", "=", "-", "'",
           "(", ")", "<", "3", "/", "^", "@", "#", "!", "?", "http", "://", "www", "com", "a",
           "word", " ", "  ", "\t", "\n", "\x1c", "\x1f", "\x85", "\u2028", "\xa0", "é",
           "e\u0301", "हिन्दी", "👍", "🏽", "\u200d", "🇩", "🇪", "1", "\ufe0f", "\u20e3", "ſ",
           "\u212a", "İ", "ΟΣ", "&amp;", "’", "â€™", "\x92", "8", "P", "D", "T", "u", "s", "*",
           "%", '"', "ok,", "end."]


def test_shortcuts_give_the_tokens_of_one_regex_findall() -> None:
    # tokenize() skips the pattern for plain words and uses the standard re on ASCII text;
    # neither may change a single token
    import random

    rng = random.Random(3)
    texts = ["".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 12)))
             for _ in range(20_000)]
    texts += ["xd, xdd. o_o o. www. http, end.", "a\x1cb c, d.", "Word, :D", "o_. x_, ok!",
              "xd'd xdd's don't o'o (xd @me #tag :dog =p ;p .com a# a@ (a) 'a -a <a"]
    from psyprofile.text import tokenize as tk

    differ = [t for t in texts if tk._split(normalize(t)) != _one_regex_findall(t)]
    assert differ == []


def test_ascii_pattern_matches_the_regex_pattern() -> None:
    from psyprofile.text import tokenize as tk

    text = "See www.a.com/x_(y), x@y.org :-) <3 o_O 4:30pm 1-year-old \x1c#tag ^_^ ... --"
    assert tk._ASCII_TOKEN_RE.findall(text) == tk._TOKEN_RE.findall(text)
    assert tk._ASCII_LOWER_TOKEN_RE.findall(text.lower()) == tk._TOKEN_RE.findall(text.lower())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("thanks @Alice_99 and @bob!", ["thanks", "<user>", "and", "<user>", "!"]),
        ("RT @x: hi", ["rt", "<user>", ":", "hi"]),
        ("&#64;carol hi", ["<user>", "hi"]),  # an entity spelling the @
        ("mail me@mail.com or @ me", ["mail", "me", "@", "mail.com", "or", "@", "me"]),
    ],
)
def test_mentions_become_one_token(text: str, expected: list[str]) -> None:
    # a handle names another person: no feature may carry it
    assert tokenize(text) == expected
    assert token_kind("<user>") == "mention"


def test_mask_mentions_for_character_features() -> None:
    from psyprofile.text.tokenize import mask_mentions

    assert mask_mentions("hi @bob_1, me@mail.com") == "hi <user>, me@mail.com"
    assert mask_mentions("no handles") == "no handles"
