"""The OpenAPI schema of the service, as checked in at ``docs/openapi.json``.

Regenerate the file with ``psyprofile serve --print-openapi > docs/openapi.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def schema() -> dict[str, Any]:
    """The schema ``/openapi.json`` serves (it does not depend on the served folder)."""
    from psyprofile.api.app import create_app
    from psyprofile.api.service import Service

    return create_app(Service(Path("."), None, None, 0), run_jobs=False).openapi()


def schema_json() -> str:
    """:func:`schema` as indented JSON."""
    return json.dumps(schema(), indent=2, ensure_ascii=False)
