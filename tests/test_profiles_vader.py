"""VADER scores are the same on worker processes as in this one, in input order, and the
study's VADER cache scores each message once."""

from __future__ import annotations

import numpy as np
from test_profiles import make_study

from psyprofile.features.vader import message_scores, score_texts
from psyprofile.profiles.sources import load_messages, vader_compound


def test_parallel_vader_equals_serial_in_input_order():
    texts = [f"post {i}: {'I love this, great!' if i % 3 else 'awful, sad and BAD.'} {'!' * (i % 4)}"
             for i in range(11)]
    got = score_texts(texts, workers=2, chunk=2, progress=False)  # six tasks on two processes
    assert got == [message_scores(t) for t in texts]


def test_study_cache_scores_each_message_once_in_message_order(tmp_path):
    ws = make_study(tmp_path / "s")
    with ws.connect() as con:
        msgs = load_messages(con)
        texts = dict(con.execute("SELECT message_id, text FROM messages").fetchall())
        got = vader_compound(con, msgs, progress=False)
        cached = con.execute("SELECT count(*), count(DISTINCT message_id) FROM profile_vader").fetchone()
        again = vader_compound(con, msgs, progress=False)  # all cached: nothing scored
    want = np.array([message_scores(texts[m])[0] for m in msgs.ids.tolist()])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert cached == (len(msgs.ids), len(msgs.ids))
    np.testing.assert_array_equal(again, got)
