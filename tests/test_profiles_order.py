"""The order of a user's messages (split halves, the zero-shot sample) depends on the posts,
not on the study's key: two studies of the same posts, and the one-person path, take the
same halves and the same sample."""

from __future__ import annotations

import json

from psyprofile.io.ingest import ingest
from psyprofile.profiles.person import person_messages
from psyprofile.profiles.sources import load_messages
from psyprofile.profiles.zeroshot import sampled_messages
from psyprofile.store.workspace import Workspace
from psyprofile.text.tokenize import tokenize

N_POSTS = 40  # more than the sample's 16, and many on the same day


def _posts(path):
    with open(path, "w") as fh:
        for i in range(N_POSTS):
            fh.write(json.dumps({"user_id": "u1", "text": f"post {i} about the day",
                                 "created_at": f"2024-01-{1 + i % 5:02d}"}) + "\n")
    return path


def _study_view(tmp_path, name, data):
    """(texts in message order, halves, texts of the 16-post sample) of a fresh study."""
    ws = Workspace.create(tmp_path / name)
    ingest(ws, [data], progress=False)
    with ws.connect() as con:
        msgs = load_messages(con)
        text_of = dict(con.execute("SELECT message_id, text FROM messages").fetchall())
    texts = [text_of[m] for m in msgs.ids]
    return texts, msgs.half.tolist(), [texts[i] for i in sampled_messages(msgs, 16)]


def test_halves_and_sample_are_those_of_the_posts_not_of_the_key(tmp_path):
    data = _posts(tmp_path / "posts.jsonl")
    a, b = _study_view(tmp_path, "a", data), _study_view(tmp_path, "b", data)
    assert a == b  # two keys, the same order, halves and sample
    # the one-person path, given the posts in another order, agrees with the study path
    rows = [json.loads(line) for line in data.read_text().splitlines()][::-1]
    texts = [r["text"] for r in rows]
    msgs, order = person_messages(texts, [tokenize(t) for t in texts],
                                  [r["created_at"] for r in rows])
    assert ([texts[i] for i in order], msgs.half.tolist()) == (a[0], a[1])
    assert [texts[order[i]] for i in sampled_messages(msgs, 16)] == a[2]
