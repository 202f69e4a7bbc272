"""Message catalogs: every string a page shows comes from one of these JSON files."""

from __future__ import annotations

import json
from pathlib import Path

CATALOGS = Path(__file__).parent / "i18n"
LANGUAGES = ("zh-CN", "en")  # the first is the default
DEFAULT_LANGUAGE = LANGUAGES[0]


def catalog_path(language: str) -> Path | None:
    return CATALOGS / f"{language}.json" if language in LANGUAGES else None


def load_catalog(language: str) -> dict[str, str]:
    path = catalog_path(language)
    if path is None:
        raise KeyError(f"no catalog for {language!r}; known: {', '.join(LANGUAGES)}")
    catalog: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return catalog
