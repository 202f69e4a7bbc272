"""The status list's JSON file and retained-message payload, and the store holding it.

{"schema": 1, "version": 7, "issued_at": "2026-11-25T06:00:00+00:00", "site": "xiaojiang",
 "subjects": {"<pseudonym>": "red", ...}}
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway.codes.files import write_atomic
from gateway.core.errors import CheckpointError
from gateway.core.status_list import StatusList
from gateway.core.values import CodeStatus

log = logging.getLogger(__name__)

SCHEMA = 1
_COLOURS = {CodeStatus.GREEN, CodeStatus.YELLOW, CodeStatus.RED}


class StatusListError(CheckpointError):
    """A status list file or message is malformed; the message says where and why."""


def parse_status_list(data: bytes | str, *, source: str) -> StatusList:
    try:
        document: Any = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StatusListError(f"{source}: not valid JSON: {exc}") from None
    try:
        if document.get("schema") != SCHEMA:
            raise ValueError(f"schema must be {SCHEMA}")
        version = document["version"]
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ValueError("version must be a positive integer")
        issued_at = datetime.fromisoformat(document["issued_at"])
        if issued_at.tzinfo is None:
            raise ValueError("issued_at needs a time zone")
        colours = {}
        for subject, colour in dict(document["subjects"]).items():
            status = CodeStatus(colour)
            if status not in _COLOURS or not isinstance(subject, str) or not subject:
                raise ValueError(f"bad entry for a subject: {colour!r}")
            colours[subject] = status
        return StatusList(version, issued_at, str(document.get("site", "")), colours)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StatusListError(f"{source}: malformed status list: {exc}") from None


def status_list_json(status: StatusList) -> str:
    return json.dumps(
        {
            "schema": SCHEMA,
            "version": status.version,
            "issued_at": status.issued_at.isoformat() if status.issued_at else None,
            "site": status.site,
            "subjects": {s: c.value for s, c in sorted(status.colours.items())},
        },
        ensure_ascii=False,
    )


def load_status_list(path: Path) -> StatusList:
    """The list in `path`; a missing file is the empty list (version 0)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return StatusList()
    except OSError as exc:
        raise StatusListError(f"{path}: cannot read the status list: {exc.strerror}") from None
    return parse_status_list(data, source=str(path))


def save_status_list(status: StatusList, path: Path) -> None:
    write_atomic(path, status_list_json(status).encode("utf-8"), mode=0o644)


class StatusStore:
    """The status list in force (thread-safe); an older or equal version never replaces it."""

    def __init__(self, status: StatusList | None = None) -> None:
        self._lock = threading.Lock()
        self._current = status or StatusList()

    @property
    def current(self) -> StatusList:
        return self._current

    def replace_if_newer(self, new: StatusList) -> bool:
        with self._lock:
            if new.version <= self._current.version:
                log.info(
                    "status list version %s ignored: %s in force",
                    new.version,
                    self._current.version,
                )
                return False
            self._current = new
        log.info("status list version %s in force (%s subjects)", new.version, len(new.colours))
        return True
