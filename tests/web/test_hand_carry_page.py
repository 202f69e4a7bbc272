"""The technician page's sync by hand, in Chromium: a real mounted filesystem as the USB stick,
a real gateway process, and the collector's `checkpoint bundle import` in between."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.operations import certs
from harness.waiting import wait_until
from tests.support.handcarry import Site, make_site
from tests.web.conftest import Gate, screenshots, start_gate
from tests.web.test_pages import sign_in

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return make_site(tmp_path)


@pytest.fixture
def stick(tmp_path: Path) -> Iterator[Path]:
    """A small filesystem mounted under the gate's media directory, as a USB stick is."""
    if os.geteuid() != 0:
        pytest.skip("mounting a filesystem needs root (.ci/run runs as root)")
    mount_point = tmp_path / "media" / "USB-STICK"
    mount_point.mkdir(parents=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount_point)], check=True
    )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "--lazy", str(mount_point)], check=False)


@pytest.fixture
def carrying_gate(tmp_path: Path, site: Site, stick: Path) -> Iterator[Gate]:
    files = site.gate_files
    yield from start_gate(
        tmp_path / "gate",
        extra=(
            f'[mqtt]\ntls_ca = "{site.directory / certs.CA_CERT}"\n'
            f'tls_cert = "{files.cert}"\ntls_key = "{files.key}"\n'
            f'[bundle]\ncollector_cert = "{site.collector_files.cert}"\n'
            f'media = ["{stick.parent}"]\n'
        ),
    )


def test_a_technician_carries_entries_out_and_the_receipt_back(
    carrying_gate: Gate, site: Site, stick: Path, chromium: Any
) -> None:
    from playwright.sync_api import expect

    gate = carrying_gate
    gate.set_up_accounts()
    for _ in range(3):
        gate.scan(gate.new_pass())
    wait_until(lambda: gate.query("SELECT count(*) FROM outbox") == [(3,)], what="3 entries")
    page = chromium.new_context(viewport={"width": 1440, "height": 900}).new_page()
    try:
        sign_in(page, gate, "technician")
        expect(page).to_have_url(f"{gate.url}/technician")
        result = page.locator("#bundle-result")
        row = page.locator(f"#sticks tr[data-stick='{stick}']")
        row.get_by_role("button").click()
        expect(result).to_have_attribute("data-outcome", "done")
        expect(result).to_contain_text("3")
        (bundle,) = stick.glob("*.bundle")
        assert gate.query("SELECT count(*) FROM outbox") == [(3,)]  # nothing settled yet

        command = ["bundle", "import", str(bundle), "-c", str(site.collector_config)]
        imported = subprocess.run(
            [sys.executable, "-m", "gateway", *command],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert imported.returncode == 0, imported.stderr
        (stick / "forged.receipt").write_bytes(b"\xa1\x66format\x63bad")

        page.click("#find-sticks")
        forged = page.locator(f"#stick-files tr[data-file='{stick / 'forged.receipt'}']")
        forged.get_by_role("button").click()
        expect(result).to_have_attribute("data-outcome", "refused")
        assert gate.query("SELECT count(*) FROM outbox") == [(3,)]

        receipt = page.locator(f"#stick-files tr[data-file='{bundle}.receipt']")
        receipt.get_by_role("button").click()
        expect(result).to_have_attribute("data-outcome", "done")
        expect(result).to_contain_text("3")
        assert gate.query("SELECT count(*) FROM outbox") == [(0,)]
        actions = [row[0] for row in gate.query("SELECT action FROM audit_log")]
        assert {"bundle-export", "bundle-receipt"} <= set(actions)
        screenshots(page, "technician-bundles", show="#hand-carry")
    finally:
        page.context.close()
