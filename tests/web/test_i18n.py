"""Every string a page shows comes from the message catalogs, in both languages."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from gateway.core.values import CodeCheck, CodeStatus, DeviceState
from gateway.web.i18n import LANGUAGES, load_catalog

WEB = Path(__file__).parents[2] / "gateway" / "web"
STATIC = WEB / "static"
PAGES = sorted(STATIC.glob("*.html"))
SCRIPTS = sorted(STATIC.glob("*.js"))
CATALOGS = {language: load_catalog(language) for language in LANGUAGES}

# Keys built at run time from a value: every value a page can meet, per family.
REASONS = [
    "no-code", "code-unreadable", "code-unverified", "code-unknown-issuer", "code-expired",
    "code-not-yet-valid", "code-bad-signature", "code-revoked", "code-yellow", "code-red",
    "fever", "fever-remeasure", "fever-not-confirmed", "temperature-implausible",
    "no-temperature", "thermal-unavailable", "lists-outdated", "pass-back", "status-list",
    "guard-confirmed", "override-from-deny", "override-from-refer", "handheld", "visitor",
]  # fmt: skip
AUDIT_ACTIONS = [
    "set-up", "sign-in", "sign-in-refused", "change-secret", "export", "override",
    "confirm-colour", "remeasure", "handheld", "visitor", "trace", "contacts", "absent",
]  # fmt: skip
FAMILIES = {
    "verdict.": ["admit", "refer", "deny", "remeasure", "idle"],
    "hint.": ["admit", "refer", "deny", "remeasure", "idle"],
    "colour.": [s.value for s in CodeStatus],
    "direction.": ["in", "out"],
    "reason.": REASONS,
    "banner.disk_": ["warn", "critical"],
    "health.disk_": ["ok", "warn", "critical"],
    "devices.role_": ["scanner", "thermal"],
    "technician.preview_": ["scanner", "thermal"],
    "devices.state_": [s.value for s in DeviceState],
    "sync.": ["online", "offline", "local-only"],
    "audit.": AUDIT_ACTIONS,
    "doctor.": ["pass", "warn", "fail"],
}
_KEY = re.compile(r"""["'`]([a-z_]+\.[a-z0-9_.-]*)["'`]""")
_TEMPLATE_FAMILY = re.compile(r"`([a-z_]+\.)\$\{")


class _Visible(HTMLParser):
    """Collects the text and translatable attributes a page would show as written."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: set[str] = set()
        self.literal: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name.startswith("data-i18n") and value:
                self.keys.add(value)
            elif name in ("placeholder", "title", "aria-label", "alt") and value:
                self.literal.append(f"{tag}[{name}]={value!r}")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.literal.append(repr(data.strip()))


def _parse(page: Path) -> _Visible:
    parser = _Visible()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def _script_keys() -> tuple[set[str], set[str]]:
    """Whole keys and key families (prefixes joined with a value) used by the scripts."""
    keys: set[str] = set()
    families: set[str] = set()
    namespaces = {key.split(".")[0] for key in CATALOGS[LANGUAGES[0]]}
    for script in SCRIPTS:
        text = script.read_text(encoding="utf-8")
        for found in _KEY.findall(text):
            if found.split(".")[0] not in namespaces:
                continue
            if found.endswith((".", "_")):
                families.add(found)
            else:
                keys.add(found)
        families.update(_TEMPLATE_FAMILY.findall(text))
    return keys, families


def test_both_catalogs_have_the_same_keys_and_no_empty_message() -> None:
    reference = set(CATALOGS[LANGUAGES[0]])
    for language, catalog in CATALOGS.items():
        assert set(catalog) == reference, (
            f"{language}: missing {sorted(reference - set(catalog))}, "
            f"extra {sorted(set(catalog) - reference)}"
        )
        assert [k for k, v in catalog.items() if not v.strip()] == [], language


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_pages_show_no_text_of_their_own(page: Path) -> None:
    assert _parse(page).literal == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_the_pages_use_is_in_the_catalog(language: str) -> None:
    catalog = CATALOGS[language]
    used = set().union(*(_parse(page).keys for page in PAGES))
    keys, families = _script_keys()
    assert sorted((used | keys) - set(catalog)) == []
    unknown_families = families - set(FAMILIES) - {"errors."}
    assert unknown_families == set(), "add these families' values to FAMILIES"
    for prefix, values in FAMILIES.items():
        assert [prefix + v for v in values if prefix + v not in catalog] == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_error_the_api_names_has_a_message(language: str) -> None:
    codes = set()
    # The API's own errors, and those of sign-in and accounts (the service's access control).
    for module in [*WEB.rglob("*.py"), WEB.parent / "service" / "access.py"]:
        text = module.read_text(encoding="utf-8")
        codes.update(re.findall(r'detail="([a-z-]+)"', text))
        codes.update(re.findall(r'"detail": "([a-z-]+)"', text))
        codes.update(re.findall(r'AccessError\(\s*"([a-z-]+)"', text))
        codes.update(re.findall(r'super\(\).__init__\("([a-z-]+)"', text))
    assert {"wrong-credentials", "too-many-attempts", "action-not-allowed"} <= codes
    assert sorted(f"errors.{c}" for c in codes if f"errors.{c}" not in CATALOGS[language]) == []


def test_reason_codes_of_the_decision_are_all_known() -> None:
    invalid = {"expired", "not-yet-valid", "bad-signature", "revoked"}
    assert {f"code-{c.value}" for c in CodeCheck if c.value in invalid} <= set(REASONS)
    decide = (Path(__file__).parents[2] / "gateway" / "core" / "decide.py").read_text()
    literal = set(
        re.findall(r'"((?:code|fever|no|temperature|thermal|lists|pass)-[a-z-]+)"', decide)
    )
    assert literal - set(REASONS) == set()
