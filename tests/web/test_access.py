"""Access control through the real app in-process: setup, sign-in, roles, CSRF, audit."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.core.values import CodeCheck, Decision
from tests.storage.test_store import new_entry
from tests.web.support import LOCAL, PASSWORDS, REMOTE, InProcess, build


@pytest.fixture
def web(tmp_path: Path) -> InProcess:
    return build(tmp_path)


def sign_in(client: TestClient, user: str) -> None:
    if user == "guard":
        response = client.post("/api/auth/pin", json={"pin": PASSWORDS["guard"], "name": "王师傅"})
    else:
        response = client.post(
            "/api/auth/sign-in", json={"username": user, "password": PASSWORDS[user]}
        )
    assert response.status_code == 200, response.text


def test_setup_only_from_this_computer_and_only_once(web: InProcess) -> None:
    form = {
        "manager": "manager",
        "manager_password": "manager-secret",
        "technician": "tech",
        "technician_password": "technician-secret",
        "guard_pin": "2468",
    }
    remote = web.client(REMOTE)
    assert remote.get("/setup").status_code == 403
    refused = remote.post("/api/auth/setup", json=form)
    assert (refused.status_code, refused.json()["detail"]) == (403, "setup-local-only")

    local = web.client(LOCAL)
    assert local.get("/manager", follow_redirects=False).headers["location"] == "/setup"
    weak = local.post("/api/auth/setup", json={**form, "manager_password": "short"})
    assert (weak.status_code, weak.json()["detail"]) == (400, "weak-password")
    assert local.post("/api/auth/setup", json=form).status_code == 204
    again = local.post("/api/auth/setup", json=form)
    assert (again.status_code, again.json()["detail"]) == (409, "already-set-up")
    assert local.get("/setup", follow_redirects=False).headers["location"] == "/login"


def test_sign_in_cookie_is_http_only_and_same_site_strict(web: InProcess) -> None:
    web.set_up()
    response = web.client().post(
        "/api/auth/sign-in", json={"username": "manager", "password": PASSWORDS["manager"]}
    )
    assert response.status_code == 200
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    assert "path=/" in cookie
    assert response.json()["role"] == "manager"


def test_wrong_password_is_refused_then_rate_limited(web: InProcess) -> None:
    web.set_up()
    client = web.client()
    wrong = {"username": "manager", "password": "not-the-password"}
    for _ in range(5):
        refused = client.post("/api/auth/sign-in", json=wrong)
        assert (refused.status_code, refused.json()["detail"]) == (401, "wrong-credentials")
    right = {"username": "manager", "password": PASSWORDS["manager"]}
    throttled = client.post("/api/auth/sign-in", json=right)
    assert (throttled.status_code, throttled.json()["detail"]) == (429, "too-many-attempts")
    assert 0 < int(throttled.headers["retry-after"]) <= 300
    # The account stays locked from another address too.
    assert web.client(REMOTE).post("/api/auth/sign-in", json=right).status_code == 429
    # An unknown account is refused exactly like a wrong password.
    unknown = web.client(("127.0.0.2", 1)).post(
        "/api/auth/sign-in", json={"username": "nobody", "password": "whatever-it-is"}
    )
    assert (unknown.status_code, unknown.json()["detail"]) == (401, "wrong-credentials")


def test_manager_and_technician_pages_refuse_a_guard_session(web: InProcess) -> None:
    web.set_up()
    client = web.client()
    sign_in(client, "guard")
    assert client.get("/manager").status_code == 403
    assert client.get("/technician").status_code == 403
    for path in ("/api/stats", "/api/records", "/api/export.csv", "/api/sync", "/api/audit"):
        response = client.get(path)
        assert (response.status_code, response.json()["detail"]) == (403, "forbidden"), path
    assert client.get("/api/config").status_code == 403
    anonymous = web.client()
    assert anonymous.get("/api/stats").status_code == 401
    assert anonymous.get("/manager", follow_redirects=False).headers["location"] == (
        "/login?next=/manager"
    )


def test_guard_actions_need_the_guard_pin(web: InProcess) -> None:
    web.set_up()
    entry = web.store.record(new_entry(decision=Decision.DENY, reasons=("code-red",)))
    body = {"decision": "admit", "reason": "checked by phone"}
    client = web.client()
    assert client.post(f"/api/passages/{entry.id}/override", json=body).status_code == 401
    sign_in(client, "manager")
    assert client.post(f"/api/passages/{entry.id}/override", json=body).status_code == 403
    assert web.store.get(entry.id).override is None


def test_override_is_recorded_with_who_and_why_and_audited(web: InProcess) -> None:
    web.set_up()
    entry = web.store.record(new_entry(decision=Decision.DENY, reasons=("code-red",)))
    guard = web.client()
    sign_in(guard, "guard")
    response = guard.post(
        f"/api/passages/{entry.id}/override", json={"decision": "admit", "reason": "电话核实"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["decision"] == "admit"
    assert response.json()["override_by"] == "王师傅"
    stored = web.store.get(entry.id)
    assert stored.override is not None
    assert (stored.override.by, stored.override.reason) == ("王师傅", "电话核实")
    manager = web.client()
    sign_in(manager, "manager")
    overrides = manager.get("/api/audit", params={"action": "override"}).json()
    assert [(a["actor"], a["entry_id"], a["detail"]) for a in overrides] == [
        ("王师傅", entry.id, "admit: 电话核实")
    ]
    again = guard.post(f"/api/passages/{entry.id}/confirm", json={"colour": "green"})
    assert (again.status_code, again.json()["detail"]) == (409, "action-not-allowed")
    missing = guard.post("/api/passages/nope/handheld", json={"celsius": 36.5})
    assert (missing.status_code, missing.json()["detail"]) == (404, "no-entry")


def test_a_guard_confirms_an_unverifiable_code(web: InProcess) -> None:
    web.set_up()
    entry = web.store.record(
        new_entry(code_check=CodeCheck.UNVERIFIABLE, decision=Decision.REFER,
                  reasons=("code-unverified",))
    )  # fmt: skip
    guard = web.client()
    sign_in(guard, "guard")
    response = guard.post(f"/api/passages/{entry.id}/confirm", json={"colour": "green"})
    assert response.status_code == 200, response.text
    assert (response.json()["decision"], response.json()["confirmed_by"]) == ("admit", "王师傅")


def test_a_request_from_another_site_is_refused(web: InProcess) -> None:
    web.set_up()
    client = web.client()
    body = {"username": "manager", "password": PASSWORDS["manager"]}
    forged = client.post("/api/auth/sign-in", json=body, headers={"origin": "http://evil.test"})
    assert (forged.status_code, forged.json()["detail"]) == (403, "cross-site")
    fetched = client.post("/api/auth/sign-in", json=body, headers={"sec-fetch-site": "cross-site"})
    assert fetched.status_code == 403
    own = client.post("/api/auth/sign-in", json=body, headers={"origin": "http://testserver"})
    assert own.status_code == 200


def test_verdict_view_is_open_on_this_computer_only(web: InProcess) -> None:
    web.set_up()
    assert web.client(LOCAL).get("/api/passages").status_code == 200
    remote = web.client(REMOTE)
    assert remote.get("/api/passages").status_code == 401
    assert remote.get("/", follow_redirects=False).headers["location"] == "/login?next=/"
    sign_in(remote, "guard")
    assert remote.get("/api/passages").status_code == 200
    assert remote.get("/api/status").json()["devices"][0]["role"] == "scanner"


def test_sign_out_ends_the_session(web: InProcess) -> None:
    web.set_up()
    client = web.client()
    sign_in(client, "technician")
    assert client.get("/api/logs").status_code == 200
    assert client.post("/api/auth/sign-out").status_code == 204
    assert client.get("/api/logs").status_code == 401


def test_config_view_hides_secrets(web: InProcess) -> None:
    web.set_up()
    client = web.client()
    sign_in(client, "technician")
    settings = client.get("/api/config").json()["settings"]
    assert settings == {
        "mqtt": {"host": "broker", "password": "********", "tls_key": None},
        "scanners": [{"kind": "camera", "device": "rtsp://cam:********@192.0.2.9/live"}],
    }


def test_responses_never_carry_pseudonyms_or_payload_digests(web: InProcess) -> None:
    web.set_up()
    web.store.record(new_entry(subject="pseudonym-xyz", payload_digest="ab" * 32))
    client = web.client()
    sign_in(client, "manager")
    for path in ("/api/passages", "/api/records"):
        text = client.get(path, params={"first": "2026-11-25"}).text
        assert "pseudonym-xyz" not in text and "ab" * 32 not in text, path
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for name, schema in schemas.items():
        assert not {"subject", "payload_digest"} & set(schema.get("properties", {})), name


def test_a_guard_registers_a_visitor_and_records_a_handheld_reading(web: InProcess) -> None:
    web.set_up()
    guard = web.client()
    sign_in(guard, "guard")
    visitor = guard.post(
        "/api/visitors",
        json={"name": "王小明", "phone": "13812345678", "unit": "3-2-501", "reason": "探亲",
              "celsius": 38.0},
    )  # fmt: skip
    assert visitor.status_code == 201, visitor.text
    body = visitor.json()
    assert (body["label"], body["decision"]) == ("王*明 *5678 3-2-501 · 探亲", "refer")
    assert body["reasons"] == ["no-code", "fever-remeasure", "visitor"]
    prompt = guard.post(f"/api/passages/{body['id']}/remeasure")
    assert (prompt.status_code, prompt.json()["kind"]) == (200, "remeasure")
    reading = guard.post(f"/api/passages/{body['id']}/handheld", json={"celsius": 36.6})
    assert reading.status_code == 200, reading.text
    assert (reading.json()["decision"], reading.json()["temperature_c"]) == ("admit", 36.6)
    bad = guard.post("/api/visitors", json={"name": "x", "phone": "12", "unit": "1", "reason": "r"})
    assert bad.status_code == 422
    manager = web.client()
    sign_in(manager, "manager")
    guarded = [(a["actor"], a["action"]) for a in manager.get("/api/audit").json()]
    assert guarded[1:4] == [("王师傅", "handheld"), ("王师傅", "remeasure"), ("王师傅", "visitor")]


def test_a_manager_changes_the_guard_pin_and_guards_sign_in_again(web: InProcess) -> None:
    web.set_up()
    guard = web.client()
    sign_in(guard, "guard")
    manager = web.client()
    sign_in(manager, "manager")
    changed = manager.post("/api/auth/secret", json={"username": "guard", "secret": "97531"})
    assert changed.status_code == 204, changed.text
    assert guard.get("/api/auth/me").json()["signed_in"] is False
    assert guard.post("/api/auth/pin", json={"pin": PASSWORDS["guard"]}).status_code == 401
    assert guard.post("/api/auth/pin", json={"pin": "97531"}).status_code == 200
    refused = guard.post("/api/auth/secret", json={"username": "manager", "secret": "x" * 12})
    assert (refused.status_code, refused.json()["detail"]) == (403, "forbidden")
