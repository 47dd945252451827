"""The study's VADER cache is filled on worker processes when many messages are new, with
the numbers one process gives, in message order, and each message scored once."""

from __future__ import annotations

import numpy as np
from test_profiles import make_study

from psyprofile.profiles import sources
from psyprofile.profiles.sources import compounds, load_messages, vader_compound


def test_parallel_vader_equals_serial_in_message_order(tmp_path, monkeypatch):
    ws = make_study(tmp_path / "s")
    # Thresholds, not VADER, are changed: a fixture-sized study takes the parallel path.
    monkeypatch.setattr(sources, "VADER_PARALLEL_MIN", 1)
    monkeypatch.setattr(sources, "VADER_CHUNK", 2)
    with ws.connect() as con:
        msgs = load_messages(con)
        texts = dict(con.execute("SELECT message_id, text FROM messages").fetchall())
        got = vader_compound(con, msgs, progress=False)
        cached = con.execute("SELECT count(*), count(DISTINCT message_id) FROM profile_vader").fetchone()
        again = vader_compound(con, msgs, progress=False)  # all cached: nothing scored
    want = np.array(compounds([texts[m] for m in msgs.ids.tolist()]))
    assert len(msgs.ids) > 2 * 2  # several chunks
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert cached == (len(msgs.ids), len(msgs.ids))
    np.testing.assert_array_equal(again, got)
