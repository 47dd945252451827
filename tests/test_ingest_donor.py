"""``--donor-id`` names the one author of a single person's export; a Telegram export is a
chat (everyone in it writes), so a donor id is refused, before any run starts when the format
is named, and each sender keeps their own pseudonym (docs/tutorial.md, data donations)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from psyprofile.errors import InputError
from psyprofile.io.ingest import ingest
from psyprofile.store.workspace import Workspace

FIX = Path(__file__).parent / "fixtures" / "platforms"


def runs_and_posts(ws: Workspace) -> tuple[list[tuple], int]:
    with ws.connect() as con:
        return (con.execute("SELECT status FROM ingest_runs").fetchall(),
                con.execute("SELECT count(*) FROM messages").fetchone()[0])


@pytest.mark.parametrize("name", ["telegram-chat/result.json", "telegram-export.zip"])
def test_named_telegram_format_refuses_a_donor_id_before_any_run(tmp_path, name):
    ws = Workspace.create(tmp_path / "s")
    with pytest.raises(InputError, match="many authors"):
        ingest(ws, [FIX / name], fmt="telegram", progress=False, donor_id="P001")
    assert runs_and_posts(ws) == ([], 0)  # no run was started, so nothing to roll back


def test_detected_telegram_refuses_a_donor_id_and_stores_nothing(tmp_path):
    ws = Workspace.create(tmp_path / "s")
    with pytest.raises(InputError, match="many authors"):
        ingest(ws, [FIX / "telegram-chat/result.json"], progress=False, donor_id="P001")
    assert runs_and_posts(ws) == ([("failed",)], 0)


def test_group_chat_keeps_each_sender_under_their_own_pseudonym(tmp_path):
    ws = Workspace.create(tmp_path / "s")
    ingest(ws, [FIX / "telegram-chat/result.json"], fmt="telegram", progress=False)
    with ws.connect() as con:
        senders = con.execute("SELECT count(DISTINCT user_id) FROM messages").fetchone()[0]
    assert senders > 1


def test_cli_says_what_to_do_without_a_traceback(tmp_path):
    study = tmp_path / "s"
    Workspace.create(study)
    proc = subprocess.run([sys.executable, "-m", "psyprofile.cli.main", "ingest", str(study),
                           str(FIX / "telegram-chat/result.json"), "--format", "telegram",
                           "--donor-id", "P001", "--quiet"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "many authors" in proc.stderr and "Leave --donor-id out" in proc.stderr
    assert "Traceback" not in proc.stderr and "P001" not in proc.stderr
