"""The JSON API against its own OpenAPI schema: generated requests never cause a server error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error

from devices.preview import camera_jpeg
from gateway.core.values import CodeCheck, Decision
from tests.storage.test_store import new_entry
from tests.web.support import PASSWORDS, InProcess, build

JPEG = camera_jpeg(np.zeros((48, 64), dtype=np.uint8), [])
# Which signed-in role may use each tag's operations; the others are called without a session.
ROLE_OF_TAG = {"guard": "guard", "guard actions": "guard", "manager": "manager",
               "technician": "technician"}  # fmt: skip


@pytest.fixture
def api(tmp_path: Path) -> tuple[InProcess, dict[str, str]]:
    # One device with a frame, one without: both answers of the preview are generated.
    web = build(tmp_path, previews={"scanner-1": lambda: JPEG, "thermal": lambda: None})
    web.set_up()
    web.store.record(new_entry(decision=Decision.DENY, reasons=("code-red",)))
    web.store.record(new_entry(decision=Decision.REFER, code_check=CodeCheck.UNVERIFIABLE))
    cookies = {}
    for role in ("guard", "manager", "technician"):
        client = web.client()
        if role == "guard":
            client.post("/api/auth/pin", json={"pin": PASSWORDS["guard"], "name": "g"})
        else:
            client.post("/api/auth/sign-in", json={"username": role, "password": PASSWORDS[role]})
        cookies[role] = client.cookies["checkpoint_session"]
    return web, cookies


def test_no_request_causes_a_server_error(api: tuple[InProcess, dict[str, str]]) -> None:
    web, cookies = api
    # The event stream never ends by design; it is tested with a real server and browser.
    schema = schemathesis.openapi.from_asgi("/openapi.json", web.app).exclude(path="/api/events")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        tags = operation.definition.raw.get("tags", [])
        role = next((ROLE_OF_TAG[tag] for tag in tags if tag in ROLE_OF_TAG), None)
        fuzz(operation, {"checkpoint_session": cookies[role]} if role else None)


def fuzz(operation: Any, cookies: dict[str, str] | None) -> None:
    """A few generated requests to one operation, each checked for a server error."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=5,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def call(case: Any) -> None:
        case.call_and_validate(checks=[not_a_server_error], cookies=cookies)

    call()
