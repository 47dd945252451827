"""Property-based fuzzing of the REST service from its own OpenAPI schema (schemathesis).

Every operation gets generated requests, valid and invalid, against a real server; none
may answer 500, and every answer must match the documented status codes and shapes.
Bounded by ``max_examples`` per operation so the whole run takes well under a minute.
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode, checks
from schemathesis.config import SchemathesisConfig

from psyprofile.api.keys import create_key
from psyprofile.api.local import LocalServer
from psyprofile.store.workspace import Workspace

FIXTURES = Path(__file__).parent / "fixtures" / "api"
# An invalid body may be refused for its size (413) before it is validated (422).
CONFIG = SchemathesisConfig.from_dict({"checks": {"negative_data_rejection": {
    "expected-statuses": ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422",
                          "428", "429"]}}})


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory):
    study = tmp_path_factory.mktemp("fuzz") / "study"
    Workspace.create(study)
    shutil.copytree(FIXTURES, study / "api", ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    token = create_key(study, "fuzz")[0]
    # --no-jobs: fuzzing is about the HTTP layer; queued jobs need not be worked through.
    with LocalServer(study, extra_args=("--no-jobs",)) as srv:
        yield srv, token


def _fuzz(op, mode: GenerationMode, headers: dict[str, str], calls: Counter[str]) -> None:
    """Run generated requests for one operation; raises the (shrunk) first failure."""

    # Each valid profile request costs a real profile (seconds on a busy machine): fewer of those.
    n = 4 if (op.label, mode) == ("POST /v1/profile", GenerationMode.POSITIVE) else 12

    @given(case=op.as_strategy(mode))
    @settings(max_examples=n, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case):
        calls[op.label, mode.value] += 1
        # Every rule on a body is in the schema (one form of posts, not both), so every
        # schema-valid request must be accepted, except one: user ids unique within a job
        # (JSON Schema's uniqueItems compares whole users, not their ids).
        unique_ids = op.label == "POST /v1/jobs"
        case.call_and_validate(headers=headers, timeout=30, excluded_checks=[
            checks.positive_data_acceptance] if unique_ids else [])

    run()


def test_no_server_errors_and_documented_responses(fuzz_server):
    srv, token = fuzz_server
    api = schemathesis.openapi.from_url(srv.url + "/openapi.json", config=CONFIG)
    auth = {"Authorization": f"Bearer {token}"}
    calls: Counter[str] = Counter()
    failures = []
    for result in api.get_all_operations():
        op = result.ok()
        for mode in GenerationMode:
            if op.label.endswith(" /healthz") and mode is GenerationMode.NEGATIVE:
                continue  # no inputs: nothing to make invalid
            try:
                _fuzz(op, mode, auth, calls)
            except Exception as exc:  # noqa: BLE001 - report every operation's failure at once
                failures.append(f"{op.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)
    # Every operation with inputs got many requests (/healthz takes none).
    busy = {k: n for k, n in calls.items() if not k[0].endswith(" /healthz")}
    assert len(busy) == 10 and min(busy.values()) >= 4, calls
