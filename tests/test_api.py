"""The REST service against a real uvicorn server on 127.0.0.1 (a subprocess per module)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from psyprofile.api.keys import create_key, revoke_key
from psyprofile.api.local import LocalServer
from psyprofile.api.openapi import schema
from psyprofile.api.store import db_path
from psyprofile.cli.main import cli
from psyprofile.models.integrity import sign
from psyprofile.store.workspace import Workspace

FIXTURES = Path(__file__).parent / "fixtures" / "api"
REPO = Path(__file__).parents[1]
JSON = {"content-type": "application/json"}
MARKER = "zebracornish"  # a word that must never show up in the server's log

TEXTS = [
    f"I love my friends and we had a great day at the beach {MARKER}",
    "So tired and sad today, work was awful and I feel alone",
    "Happy to see the kids play the game, love them so much lol",
    "I am worried and afraid about the exam but I trust my friends",
    "Angry at the traffic again, I hate mornings like this one",
]
TIMES = ["2024-05-01T10:00:00+00:00", "2024-05-02T11:00:00+00:00", "2024-05-03T12:00:00+00:00",
         "2024-05-04T13:00:00+00:00", "2024-05-05T14:00:00+00:00"]


def posts(texts: list[str], times: list[str]) -> list[dict[str, str]]:
    """The ``posts`` form of a request: each text with its time."""
    return [{"text": t, "timestamp": w} for t, w in zip(texts, times, strict=True)]


def make_study(path: Path) -> Path:
    """A study with the fixture service settings (small lexicon files, min_words 30)."""
    Workspace.create(path)
    shutil.copytree(FIXTURES, path / "api", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return path


def direct_profile(texts: list[str], timestamps: list[str] | None = None) -> dict:
    """What the service should answer: profile_texts with the fixture spec, called directly."""
    from psyprofile.profiles.spec import spec_from_lexica
    from psyprofile.profiles.texts import profile_texts

    spec = spec_from_lexica({"nrc_emot": FIXTURES / "nrc_emot.csv",
                             "dd_emnlp14_ageGender": FIXTURES / "dd_emnlp14_ageGender.csv"})
    return json.loads(json.dumps(profile_texts(texts, timestamps=timestamps, min_words=30,
                                               spec=spec)))


def assert_error(r: httpx.Response, status: int, code: str) -> dict:
    """``r`` has ``status`` and the stable error shape with ``code``; returns the error."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "detail"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    return make_study(tmp_path_factory.mktemp("api") / "study")


@pytest.fixture(scope="module")
def key(study) -> str:
    return create_key(study, "tests")[0]


@pytest.fixture(scope="module")
def server(study, key):
    # One worker process: profiles go through the process pool here (in-process in the job tests).
    with LocalServer(study, extra_args=("--workers", "1")) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server, key):
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"},
                      timeout=60) as c:
        yield c


def test_healthz_needs_no_key(server):
    r = httpx.get(server.url + "/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"
    head = httpx.head(server.url + "/healthz")
    assert head.status_code == 200 and head.content == b""


def test_profile_round_trip_equals_profile_texts(client):
    r = client.post("/v1/profile", json={"posts": posts(TEXTS, TIMES)})
    assert r.status_code == 200, r.text
    got = r.json()
    want = direct_profile(TEXTS, TIMES)
    assert got["words"] == want["words"] > 30
    assert got["status"] == "scored"
    by_dim = {s["dimension"]: s for s in got["scores"]}
    assert {"joy", "sadness", "anger", "age", "gender_female"} <= set(by_dim)
    assert by_dim["joy"]["value"] > 0
    assert got == want  # every score, interval, source and warning, exactly


def test_short_text_is_flagged(client):
    r = client.post("/v1/profile", json={"texts": ["happy day"]})
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["status"] == "insufficient_text"
    assert got["warnings"]
    assert got == direct_profile(["happy day"])


def test_missing_unknown_and_revoked_keys(server, study):
    url = server.url + "/v1/profile"
    body = {"texts": ["hello"]}
    err = assert_error(httpx.post(url, json=body), 401, "missing_api_key")
    assert "psyprofile keys create" in err["message"]
    assert httpx.post(url, json=body).headers["www-authenticate"] == "Bearer"
    assert_error(httpx.post(url, json=body, headers={"Authorization": "Bearer nonsense"}),
                 403, "invalid_api_key")
    # A key made while the server runs works at once, and stops working once revoked.
    token, info = create_key(study, "short-lived")
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.post(url, json=body, headers=auth).status_code == 200
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert_error(httpx.post(url, json=body, headers={"Authorization": f"Bearer {forged}"}),
                 403, "invalid_api_key")
    revoke_key(study, info.key_id)
    assert_error(httpx.post(url, json=body, headers=auth), 403, "invalid_api_key")
    assert_error(httpx.get(server.url + "/v1/models", headers=auth), 403, "invalid_api_key")


def test_oversized_bodies_are_refused_with_413(client):
    big = {"texts": ["word " * 9000] * 5}  # ~225 kB, over the fixture's 200,000 bytes
    err = assert_error(client.post("/v1/profile", json=big), 413, "body_too_large")
    assert "200,000 bytes" in err["message"]

    def chunks():  # no Content-Length: the limit must hold while the body streams in
        yield b'{"texts": ['
        for _ in range(300):
            yield b'"' + b"x" * 1000 + b'",'
        yield b'"end"]}'

    r = client.post("/v1/profile", content=chunks(), headers=JSON)
    assert_error(r, 413, "body_too_large")


def test_malformed_and_invalid_bodies_give_422(client):
    r = client.post("/v1/profile", content=b'{"texts": ["unclosed', headers=JSON)
    err = assert_error(r, 422, "invalid_request")
    assert err["detail"][0]["type"] == "json_invalid"
    err = assert_error(client.post("/v1/profile", json={"texts": []}), 422, "invalid_request")
    assert err["detail"][0]["loc"] == ["body", "texts"]
    both = {"texts": ["a"], "posts": posts(["b"], TIMES[:1])}
    for body in (both, {}):
        err = assert_error(client.post("/v1/profile", json=body), 422, "invalid_request")
        assert "either as `texts` (strings) or as `posts`" in err["message"]
    # The old parallel list is refused by name (its length rule was not in the schema).
    r = client.post("/v1/profile", json={"texts": ["a", "b"], "timestamps": [TIMES[0]]})
    assert assert_error(r, 422, "invalid_request")["detail"][0]["loc"] == ["body", "timestamps"]
    r = client.post("/v1/profile", json={"posts": [{"text": "a"}]})
    assert assert_error(r, 422, "invalid_request")["detail"][0]["loc"] == [
        "body", "posts", 0, "timestamp"]
    r = client.post("/v1/profile", json={"texts": ["x" * 50_001]})
    err = assert_error(r, 422, "invalid_request")
    assert err["detail"][0]["loc"] == ["body", "texts", 0]
    assert "x" * 100 not in json.dumps(err)  # the offending text is not echoed back
    r = client.post("/v1/profile", json={"texts": ["a"], "extra": 1})
    assert_error(r, 422, "invalid_request")
    assert_error(client.post("/v1/profile", json={"posts": posts(["a"], ["not a time"])}),
                 422, "invalid_request")
    # Repeated user ids are named by position, never by the id itself.
    r = client.post("/v1/jobs", json={"users": [{"id": MARKER, "texts": ["a"]}] * 2})
    err = assert_error(r, 422, "invalid_request")
    assert "users[1] repeats users[0]" in err["message"] and MARKER not in json.dumps(err)


def test_schema_states_the_body_rules(server):
    """What the server enforces on a body is in the schema: one form of posts, not both."""
    comps = httpx.get(server.url + "/openapi.json").json()["components"]["schemas"]
    for name in ("ProfileRequest", "JobUser"):
        assert comps[name]["oneOf"] == [{"required": ["texts"]}, {"required": ["posts"]}]
        assert comps[name]["additionalProperties"] is False
        assert "null" not in json.dumps(comps[name]["properties"])
    assert comps["Post"]["required"] == ["text", "timestamp"]


def test_unknown_paths_and_methods_keep_the_error_shape(client):
    err = assert_error(client.get("/v1/nothing"), 404, "not_found")
    assert "/v1/nothing" in err["message"]
    assert_error(client.delete("/v1/profile"), 405, "method_not_allowed")
    err = assert_error(client.get("/v1/jobs/pasted-user-4711"), 404, "job_not_found")
    assert "4711" not in err["message"]
    r = client.post("/v1/jobs", content=b"users", headers={"content-type": "text/plain"})
    assert_error(r, 415, "unsupported_media_type")


def test_models_lists_study_models_with_cards(client, study):
    folder = study / "models" / "age-test"
    folder.mkdir(parents=True)
    (folder / "model.json").write_text(json.dumps({
        "format": "psyprofile-model", "format_version": 1, "name": "age-test", "outcome": "age",
        "task": "regression", "feature_sets": [{"name": "1gram"}],
        "cv": {"n_users": 40, "r": 0.61}}))
    card = {"model": "age-test", "intended_uses": ["research"]}
    (folder / "card.json").write_text(json.dumps(card))
    digest = sign(folder)  # the server shares this process's config folder, so its model key

    def listed() -> dict:
        r = client.get("/v1/models")
        assert r.status_code == 200, r.text
        mine = [m for m in r.json()["models"] if m["name"] == "age-test"]
        assert len(mine) == 1
        return mine[0]

    assert listed() == {**listed(), "where": "study", "outcome": "age", "r": 0.61,
                        "n_users": 40, "feature_sets": ["1gram"], "card": card,
                        "intact": True, "digest": digest}
    # A card changed after saving is not served: the model is listed by name only.
    (folder / "card.json").write_text(json.dumps({**card, "intended_uses": ["hiring"]}))
    assert listed() == {**listed(), "intact": False, "card": None, "outcome": None,
                        "digest": None}
    bundled = [m for m in client.get("/v1/models").json()["models"] if m["where"] == "bundled"]
    assert bundled and all(m["intact"] and m["card"] for m in bundled)


def test_openapi_is_served_and_checked_in(server):
    served = httpx.get(server.url + "/openapi.json").json()
    checked_in = json.loads((REPO / "docs" / "openapi.json").read_text())
    assert served == schema()
    assert checked_in == served, ("docs/openapi.json is stale; regenerate it with "
                                  "`psyprofile serve --print-openapi > docs/openapi.json`")


def test_keys_cli_prints_the_key_once_and_stores_only_its_hash(tmp_path):
    folder = tmp_path / "models-only"
    folder.mkdir()
    runner = CliRunner()
    r = runner.invoke(cli, ["keys", "create", str(folder), "--name", "lab A"])
    assert r.exit_code == 0, r.output
    token = r.stdout.strip().splitlines()[0]
    assert token.startswith("ppk_")
    raw = db_path(folder).read_bytes() + b"".join(
        p.read_bytes() for p in db_path(folder).parent.glob("*-wal"))
    assert token.encode() not in raw
    assert token.split("_", 2)[2].encode() not in raw
    key_id = token.split("_")[1]
    listed = runner.invoke(cli, ["keys", "list", str(folder)]).stdout
    assert f"{key_id}  lab A" in listed and "REVOKED" not in listed
    assert runner.invoke(cli, ["keys", "revoke", str(folder), "lab A"]).exit_code == 0
    assert "REVOKED" in runner.invoke(cli, ["keys", "list", str(folder)]).stdout
    r = runner.invoke(cli, ["keys", "revoke", str(folder), "lab A"])
    assert r.exit_code == 2
    assert "no active key with id or name 'lab A'" in r.output


def test_server_log_holds_no_text(server, client):
    client.post("/v1/profile", content=b'{"texts": ["' + MARKER.encode() + b'"', headers=JSON)
    client.post("/v1/profile", json={"texts": [MARKER] * 3})
    log = server.log_path.read_text()
    assert '"POST /v1/profile HTTP/1.1" 200' in log
    assert MARKER not in log


def _wait_done(c: httpx.Client, job_id: str, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        st = c.get(f"/v1/jobs/{job_id}").json()
        if st["status"] in ("done", "failed"):
            return st
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} not done in {seconds} s: {st}")


def test_jobs_survive_a_clean_stop_and_a_crash(tmp_path):
    study = make_study(tmp_path / "study")
    token = create_key(study, "jobs")[0]
    auth = {"Authorization": f"Bearer {token}"}
    # Enough users that the crash in step 2 lands mid-job: one profile takes milliseconds.
    n_users = 400
    users = [{"id": "alice", "posts": posts(TEXTS[:3], TIMES[:3])},
             {"id": "bob", "texts": TEXTS[3:] * 2}]
    users += [{"id": f"u{i:03d}", "texts": TEXTS} for i in range(n_users - 2)]
    csv = "user_id,message\ncarol,I love the beach\ncarol,friends are great\n,no user here\n"
    # 1. A server that only accepts jobs: both stay queued, results are not ready.
    with LocalServer(study, extra_args=("--no-jobs",)) as srv, \
            httpx.Client(base_url=srv.url, headers=auth, timeout=60) as c:
        r = c.post("/v1/jobs", json={"users": users})
        assert r.status_code == 202, r.text
        job = r.json()
        assert (job["status"], job["n_users"], job["n_done"]) == ("queued", n_users, 0)
        up = c.post("/v1/jobs", files={"file": ("posts.csv", csv.encode(), "text/csv")}).json()
        assert (up["status"], up["n_users"], up["rejected_rows"]) == ("queued", 1, {"no_user": 1})
        assert_error(c.get(f"/v1/jobs/{job['id']}/result"), 409, "job_queued")
    # 2. A server that starts the first job and crashes once some of its users are done.
    srv = LocalServer(study).start()
    try:
        with httpx.Client(base_url=srv.url, headers=auth, timeout=60) as c:
            deadline = time.monotonic() + 120
            while (st := c.get(f"/v1/jobs/{job['id']}").json())["n_done"] == 0:
                assert st["status"] in ("queued", "running") and time.monotonic() < deadline, st
                time.sleep(0.01)
    finally:
        srv.stop(kill=True)
    with sqlite3.connect(db_path(study)) as con:
        left = con.execute("SELECT status, n_done FROM jobs WHERE job_id = ?",
                           [job["id"]]).fetchall()
    assert len(left) == 1 and left[0][0] == "running" and 1 <= left[0][1] < n_users, left
    # 3. The next server resumes the interrupted job and runs the queued one.
    other = {"Authorization": f"Bearer {create_key(study, 'other')[0]}"}
    with LocalServer(study) as srv, httpx.Client(base_url=srv.url, headers=auth, timeout=60) as c:
        for j, n in ((job, n_users), (up, 1)):
            st = _wait_done(c, j["id"])
            assert (st["status"], st["n_done"], st["progress"]) == ("done", n, 1.0)
        res = c.get(f"/v1/jobs/{job['id']}/result").json()
        page = c.get(f"/v1/jobs/{job['id']}/result", params={"offset": 1, "limit": 1}).json()
        up_res = c.get(f"/v1/jobs/{up['id']}/result").json()
        # A job is visible to the key that submitted it only.
        assert_error(httpx.get(f"{srv.url}/v1/jobs/{job['id']}", headers=other), 404,
                     "job_not_found")
    pseudo = Workspace.open(study).pseudonymizer()
    assert [u["id"] for u in res["users"]] == [pseudo(u["id"]) for u in users]
    assert page["users"] == res["users"][1:2]
    assert res["users"][0]["profile"] == direct_profile(TEXTS[:3], TIMES[:3])
    assert res["users"][1]["profile"] == direct_profile(TEXTS[3:] * 2)
    assert [u["id"] for u in up_res["users"]] == [pseudo("carol")]
    want = direct_profile(["I love the beach", "friends are great"])
    assert up_res["users"][0]["profile"] == want
    assert want["status"] == "insufficient_text"
    with sqlite3.connect(db_path(study)) as con:  # the texts are gone once the job is done
        left = con.execute("SELECT count(*) FROM job_users WHERE texts IS NOT NULL").fetchall()
    assert left == [(0,)]
