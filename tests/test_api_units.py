"""Job users from uploaded files, service settings, the job-runner lock (no server needed)."""

from __future__ import annotations

import json

import pytest

from psyprofile.api.schemas import MAX_TEXT_CHARS
from psyprofile.api.service import Service
from psyprofile.api.upload import users_from_file
from psyprofile.errors import InputError, PsyprofileError
from psyprofile.io.base import ColumnMap


def test_csv_rows_grouped_by_user_in_order_with_rejects_counted(tmp_path):
    path = tmp_path / "posts.csv"
    long = "x" * (MAX_TEXT_CHARS + 1)
    path.write_text(
        "author,body,created_at\n"
        "ann,first post,2024-01-01T10:00:00Z\n"
        "bob,hello,2024-01-02T10:00:00Z\n"
        "ann,second post,2024-01-03T10:00:00Z\n"
        ",orphan text,2024-01-04T10:00:00Z\n"
        "bob,,2024-01-05T10:00:00Z\n"
        f"bob,{long},2024-01-06T10:00:00Z\n"
        "cid,no time,\n")
    users, rejected = users_from_file(path, columns=ColumnMap(user="author", text="body"))
    assert [u[0] for u in users] == ["ann", "bob", "cid"]
    assert users[0][1] == ["first post", "second post"]
    assert users[0][2] == ["2024-01-01T10:00:00+00:00", "2024-01-03T10:00:00+00:00"]
    assert users[1][1:] == (["hello"], ["2024-01-02T10:00:00+00:00"])
    assert users[2][1:] == (["no time"], None)  # no timestamps rather than a partial list
    assert rejected == {"no_user": 1, "no_text": 1, "text_too_long": 1}


def test_jsonl_upload_and_an_unusable_file(tmp_path):
    path = tmp_path / "posts.jsonl"
    rows = [{"user_id": "u1", "text": "a post"}, {"user_id": "u1", "text": "another"}, "no dict"]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    users, rejected = users_from_file(path)
    assert users == [("u1", ["a post", "another"], None)]
    assert sum(rejected.values()) == 1
    empty = tmp_path / "empty.csv"
    empty.write_text("user_id,text\nu1,\n")
    with pytest.raises(InputError, match=r"client.csv: no usable posts \(skipped: \{'no_text': 1"):
        users_from_file(empty, name="client.csv")


def test_service_settings_file(tmp_path):
    (tmp_path / "api").mkdir()
    conf = tmp_path / "api" / "config.toml"
    conf.write_text("[limits]\nmax_body_bytes = 1000\n")
    svc = Service.open(tmp_path)
    assert (svc.limits.max_body_bytes, svc.limits.max_upload_bytes) == (1000, 64 << 20)
    assert svc.workspace is None and svc.min_words == 500 and svc.pseudonymizer() is None
    conf.write_text("[limits]\nmax_bytes = 1\n")
    with pytest.raises(PsyprofileError, match="unknown setting in \\[limits\\]"):
        Service.open(tmp_path)
    conf.write_text("[limits\n")
    with pytest.raises(PsyprofileError, match="config.toml: not valid TOML"):
        Service.open(tmp_path)
    with pytest.raises(PsyprofileError, match="no such folder"):
        Service.open(tmp_path / "nope")


def test_one_job_runner_per_folder(tmp_path):
    from click.testing import CliRunner

    from psyprofile.api.jobs import lock_runner
    from psyprofile.cli.main import cli

    held = lock_runner(tmp_path)
    try:
        r = CliRunner().invoke(cli, ["serve", str(tmp_path), "--port", "1"])
        assert r.exit_code == 2
        assert "another `psyprofile serve` is already running jobs for this folder" in r.output
    finally:
        held.close()
    with lock_runner(tmp_path):  # free again once the holder is gone
        pass


SECRET = "my secret diary entry"


class _Exploding:
    """A profile spec whose use fails with a message quoting a 'post'."""

    def __getattr__(self, name):
        raise ValueError("failed on the post " + SECRET)


def test_unexpected_errors_are_500_with_the_shape_and_no_text_logged(tmp_path, caplog):
    from fastapi.testclient import TestClient

    from psyprofile.api.app import create_app
    from psyprofile.api.keys import create_key

    token = create_key(tmp_path, "t")[0]
    app = create_app(Service(tmp_path, None, _Exploding(), 0), run_jobs=False)
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post("/v1/profile", json={"texts": [SECRET]},
                   headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "internal_error"
    assert "unexpected ValueError in POST /v1/profile (message withheld)" in caplog.text
    assert "diary" not in caplog.text and "diary" not in r.text


def test_service_database_is_private_whatever_the_umask(tmp_path):
    import os
    import stat

    from psyprofile.api.store import connect, db_path

    old = os.umask(0o022)
    try:
        with connect(tmp_path) as con:
            con.execute("SELECT count(*) FROM api_keys").fetchall()
    finally:
        os.umask(old)
    files = [db_path(tmp_path), *db_path(tmp_path).parent.glob("*-wal")]
    assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    assert stat.S_IMODE(db_path(tmp_path).parent.stat().st_mode) == 0o700
