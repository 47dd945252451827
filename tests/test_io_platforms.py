"""Facebook, Instagram, Telegram and Bluesky exports: rows, counts by reason, zipped forms,
detection and clear failures, on fixtures written by tests/fixtures/platforms/make_fixtures.py."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from psyprofile.errors import InputError
from psyprofile.io.base import ColumnMap, FileInfo
from psyprofile.io.formats import detect_format, get_reader
from psyprofile.io.ingest import ingest
from psyprofile.io.meta import repair_mojibake
from psyprofile.store.workspace import Workspace

FIX = Path(__file__).parent / "fixtures" / "platforms"
_spec = importlib.util.spec_from_file_location("make_platform_fixtures", FIX / "make_fixtures.py")
make = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make)


def read(fmt: str, path: Path, groups: tuple[str, ...] = ()) -> tuple[list[dict], Counter, FileInfo]:
    """(posts, rejects by reason, file info) of ``path`` read with the ``fmt`` reader."""
    info = FileInfo(format=fmt)
    posts, reasons = [], Counter()
    for chunk in get_reader(fmt)(path, ColumnMap(groups=groups), info, 2):
        posts += chunk.table.to_pylist()
        reasons.update(r.reason for r in chunk.rejects)
    return posts, reasons, info


def test_fixtures_are_what_the_script_writes(tmp_path):
    make.write_all(tmp_path)
    made = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    kept = sorted(p.relative_to(FIX) for p in FIX.rglob("*") if p.is_file()
                  and p.name != "make_fixtures.py" and "__pycache__" not in p.parts)
    assert made == kept
    for rel in made:
        assert (tmp_path / rel).read_bytes() == (FIX / rel).read_bytes(), rel


def test_tutorial_donations_are_what_the_script_writes(tmp_path):
    docs = FIX.parents[2] / "docs" / "data" / "donations"
    make.write_donors(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in docs.iterdir())
    for p in tmp_path.iterdir():
        assert p.read_bytes() == (docs / p.name).read_bytes(), p.name


@pytest.mark.parametrize("name", ["facebook-export", "facebook-export.zip"])
def test_facebook_posts_and_comments_with_mojibake_repaired(name):
    posts, reasons, info = read("facebook", FIX / name)
    assert [p["text"] for p in posts] == [
        "Hello from the lake today.", "Ich liebe München 😂",
        "Congratulations, well deserved!", "Schön, bis bald"]
    # 4 post items + 3 comments: a link-only post and a sticker comment have no text, a number
    # where the text belongs is the wrong type; the message thread is never read.
    assert reasons == {"no_text": 2, "wrong_type": 1}
    assert len(posts) + sum(reasons.values()) == 7
    assert info.single_person and all(p["user"] is None for p in posts)
    assert any("in 2 items" in n for n in info.notes)
    assert posts[0]["time"].timestamp() == make.T0


def test_instagram_captions_and_comments():
    posts, reasons, info = read("instagram", FIX / "instagram-export.zip")
    assert [p["text"] for p in posts] == ["Café morning ☕", "Two photos from the hike",
                                          "Love this view", "Wunderschön 😍"]
    assert reasons == {"no_text": 1}
    assert info.single_person
    assert posts[-1]["time"].timestamp() == make.T0 + 600


def test_telegram_one_chat_text_as_list_service_and_forwarded():
    posts, reasons, info = read("telegram", FIX / "telegram-chat/result.json", ("chat", "chat_type"))
    assert [p["text"] for p in posts] == [
        "See you at the trailhead at nine.",
        "Bring warm clothes, see https://example.org/forecast"]
    assert [p["user"] for p in posts] == ["user111", "user222"]
    assert reasons == {"not_a_post": 1, "forwarded": 1, "no_text": 1}
    assert not info.single_person
    # a personal chat's name is the other person's name: never a label
    assert {p["chat"] for p in posts} == {"personal_chat 1"}
    assert posts[0]["id"] == "222:2"


def test_telegram_all_chats_zipped_labels_only_public_chats_by_name():
    posts, reasons, _ = read("telegram", FIX / "telegram-export.zip", ("chat",))
    assert [(p["chat"], p["text"]) for p in posts] == [
        ("private_group 1", "See you at the trailhead at nine."),
        ("private_group 1", "Bring warm clothes, see https://example.org/forecast"),
        ("Trail News", "Trails reopen on Monday."),
        ("private_supergroup 3", "Happy new year!")]
    assert reasons == {"not_a_post": 1, "forwarded": 1, "no_text": 1}
    assert "Alex" not in str(posts) and "Hikers" not in str(posts)


@pytest.mark.parametrize("name", ["bluesky/repo.car", "bluesky.zip"])
def test_bluesky_repository_posts_langs_and_reposts(name):
    posts, reasons, info = read("bluesky", FIX / name)
    assert [(p["text"], p["lang"]) for p in posts] == [
        ("Привет, это мой первый пост здесь.", "ru"),
        ("Replying with an English note.", "en"),
        ("No language tag on this one.", None)]
    did = "did:plc:alexexample0000000000000"
    assert {p["user"] for p in posts} == {did}
    assert posts[0]["id"] == f"at://{did}/app.bsky.feed.post/3kaaaaaaaaa22"
    assert reasons == {"not_a_post": 3}  # the repost, the like, the profile
    assert info.single_person


def test_bluesky_record_json_page():
    posts, reasons, _ = read("bluesky", FIX / "bluesky/records.json")
    assert [(p["text"], p["lang"], p["user"]) for p in posts] == [
        ("Ein Beitrag auf Deutsch.", "de", "did:plc:alexexample0000000000000")]
    assert reasons == {"not_a_post": 1}


@pytest.mark.parametrize(("name", "fmt"), [
    ("facebook-export", "facebook"), ("facebook-export.zip", "facebook"),
    ("facebook-export/your_facebook_activity/posts/your_posts_1.json", "facebook"),
    ("facebook-export/your_facebook_activity/comments_and_reactions/comments.json", "facebook"),
    ("instagram-export", "instagram"), ("instagram-export.zip", "instagram"),
    ("instagram-export/your_instagram_activity/content/posts_1.json", "instagram"),
    ("telegram-chat/result.json", "telegram"), ("telegram-export.zip", "telegram"),
    ("bluesky/repo.car", "bluesky"), ("bluesky.zip", "bluesky"),
    ("bluesky/records.json", "bluesky"),
])
def test_auto_detects_each_export(name, fmt):
    assert detect_format(FIX / name) == fmt


def test_a_json_file_merely_named_like_an_export_stays_generic(tmp_path):
    f = tmp_path / "posts_1.json"
    f.write_text('{"user": "a", "text": "hello"}\n')
    assert detect_format(f) == "jsonl"


def test_broken_facebook_file_keeps_what_was_read_and_says_so():
    posts, reasons, info = read("facebook", FIX / "broken/your_posts_1.json")
    assert posts and reasons["bad_json"] == 1
    assert any("broken after item" in n for n in info.notes)


def test_html_form_of_a_facebook_export_is_refused_with_the_fix():
    with pytest.raises(InputError, match="HTML form of the export.*JSON format"):
        read("facebook", FIX / "broken/facebook-html")


def test_broken_telegram_file_counts_the_rest_as_bad_json():
    posts, reasons, info = read("telegram", FIX / "broken/result.json")
    assert [p["text"] for p in posts] == ["one"]
    assert reasons == {"bad_json": 1}
    assert any("broken after message 1" in n for n in info.notes)


def test_deeply_nested_telegram_message_is_refused_quickly(tmp_path):
    f = tmp_path / "result.json"
    f.write_text('{"name": "x", "type": "private_group", "messages": [{"id": 1, "type": "message",'
                 ' "from_id": "user1", "text": "kept"}, ' + "[" * 100_000 + "]" * 100_000 + "]}")
    t0 = time.perf_counter()
    posts, reasons, info = read("telegram", f)
    assert time.perf_counter() - t0 < 10  # 0.5 s; ijson's own prefixes took 24 s here
    assert [p["text"] for p in posts] == ["kept"] and reasons == {"bad_json": 1}
    assert any("broken after message 1" in n for n in info.notes)


def test_cut_short_car_file_fails_clearly():
    with pytest.raises(InputError, match="not a readable CAR file"):
        read("bluesky", FIX / "broken/repo.car")


@pytest.mark.parametrize(("fmt", "name"), [("facebook", "instagram-export"),
                                           ("telegram", "facebook-export"),
                                           ("bluesky", "telegram-export")])
def test_wrong_export_for_the_format_is_refused(fmt, name):
    with pytest.raises(InputError, match="found in this"):
        read(fmt, FIX / name)


def test_not_json_at_all_is_refused_for_telegram(tmp_path):
    f = tmp_path / "result.json"
    f.write_text("<html>not json</html>")
    with pytest.raises(InputError, match="not valid JSON"):
        read("telegram", f)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_mojibake_repair_restores_any_text_meta_mangled(text):
    assert repair_mojibake(make.meta_escape(text))[0] == text


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0x100)))
def test_mojibake_repair_leaves_correct_text_alone(text):
    assert repair_mojibake(text) == (text, False)


def test_lone_latin1_letters_are_not_taken_for_mojibake():
    assert repair_mojibake("café à la carte") == ("café à la carte", False)


def test_ingest_counts_every_item_by_reason(tmp_path):
    ws = Workspace.create(tmp_path / "s")
    rep = ingest(ws, [FIX / "telegram-export.zip", FIX / "bluesky/repo.car"], progress=False)
    tg, bsky = rep.files
    assert (tg.format, bsky.format) == ("telegram", "bluesky")
    assert tg.counts == {"stored": 4, "forwarded": 1, "not_a_post": 1, "no_text": 1}
    assert bsky.counts == {"stored": 3, "not_a_post": 3}
    # one person's export without an account id: the donor id names them
    fb = ingest(ws, [FIX / "facebook-export.zip"], progress=False, donor_id="donor-7").files[0]
    assert fb.counts == {"stored": 4, "no_text": 2, "wrong_type": 1}
    with ws.connect() as con:
        users = con.execute("SELECT DISTINCT user_id FROM messages").fetchall()
        langs = con.execute("SELECT lang FROM messages WHERE text LIKE 'Привет%'").fetchall()
    assert len(users) == 5  # user111, user222, channel900, the DID, the donor
    assert "user111" not in str(users) and "did:plc" not in str(users) and "donor-7" not in str(users)
    assert langs == [("ru",)]


def test_donor_id_is_refused_for_a_many_author_chat_export(tmp_path):
    ws = Workspace.create(tmp_path / "s")
    with pytest.raises(InputError, match="many authors"):
        ingest(ws, [FIX / "telegram-chat/result.json"], progress=False, donor_id="donor-7")


_json_values = st.recursive(
    # any integer (valid JSON, whatever its size); not Infinity, which is not JSON and which
    # yajl (Telegram's streaming parser) stops at
    st.none() | st.booleans() | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["text", "type", "from_id", "forwarded_from", "data", "post", "timestamp",
                         "$type", "langs", "createdAt", "value", "uri", "title", "media",
                         "string_map_data", "Comment", "date_unixtime", "id"]), inner, max_size=5),
    max_leaves=12)
_messages = st.lists(st.one_of(
    _json_values,
    st.fixed_dictionaries({"type": st.sampled_from(["message", "service"]), "id": st.integers(0, 2**62),
                           "from_id": st.text(max_size=5), "text": _json_values}),
    st.fixed_dictionaries({"$type": st.sampled_from(["app.bsky.feed.post", "app.bsky.feed.repost"]),
                           "text": _json_values, "langs": _json_values}),
    st.fixed_dictionaries({"timestamp": _json_values, "data": st.lists(
        st.fixed_dictionaries({"post": _json_values}), max_size=2)}),
), max_size=8)


@settings(max_examples=30, deadline=None)
@given(_messages)
# integers outside int64, and int64's minimum (here), are valid JSON; yajl's float mode
# called them an overflow, which ended a Telegram export there and counted its unread rest
# as one reject
@example([{"$type": "app.bsky.feed.post", "text": None, "langs": -(2**63)}, None])
def test_every_item_is_a_post_or_a_counted_reject(tmp_path_factory, items):
    """Whatever the items hold, each becomes one post or one counted reject, never an error."""
    import json

    d = tmp_path_factory.mktemp("fuzz")
    files = {
        "telegram": (d / "result.json", {"name": "x", "type": "private_group", "id": 1,
                                         "messages": items}),
        "facebook": (d / "your_posts_1.json", items),
        "bluesky": (d / "records.json", {"records": items}),
        "instagram": (d / "posts_1.json", items),
    }
    for fmt, (path, value) in files.items():
        path.write_text(json.dumps(value))
        posts, reasons, _ = read(fmt, path)
        assert len(posts) + sum(reasons.values()) == len(items), fmt


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["bluesky/repo.car", "telegram-chat/result.json",
                        "facebook-export/your_facebook_activity/posts/your_posts_1.json",
                        "bluesky/records.json"]),
       st.integers(min_value=0, max_value=10_000), st.binary(min_size=0, max_size=8))
def test_damaged_exports_fail_only_with_a_clear_error(tmp_path_factory, name, at, junk):
    data = (FIX / name).read_bytes()
    at %= len(data) + 1
    path = tmp_path_factory.mktemp("damaged") / Path(name).name
    path.write_bytes(data[:at] + junk + data[at + len(junk):])
    fmt = {"repo.car": "bluesky", "result.json": "telegram",
           "records.json": "bluesky"}.get(path.name, "facebook")
    with contextlib.suppress(InputError):
        read(fmt, path)


def test_a_telegram_message_with_a_huge_number_is_read_with_the_rest(tmp_path):
    path = tmp_path / "result.json"
    msgs = [{"type": "message", "id": i, "date": "2024-01-02T03:04:05", "from_id": "user1",
             "text": f"post {i}", "views": v} for i, v in enumerate([18446744073709551616, 3, 1e300])]
    path.write_text(json.dumps({"name": "x", "type": "private_group", "id": 1, "messages": msgs}))
    posts, reasons, info = read("telegram", path)
    assert [p["text"] for p in posts] == ["post 0", "post 1", "post 2"] and not reasons
    assert not any("broken" in n for n in info.notes)
