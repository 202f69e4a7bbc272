"""Key events of a keyboard-wedge scanner back into the characters it typed (US layout)."""

from __future__ import annotations

import logging

from evdev import InputEvent, ecodes

logger = logging.getLogger(__name__)

KEY_UP, KEY_DOWN, KEY_REPEAT = 0, 1, 2

# Scanners type in the US layout unless configured otherwise; (plain, with shift) per key.
_KEYS: dict[int, tuple[str, str]] = {
    **{
        getattr(ecodes, f"KEY_{letter}"): (letter.lower(), letter)
        for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    },
    **{
        getattr(ecodes, f"KEY_{digit}"): (digit, shifted)
        for digit, shifted in zip("1234567890", "!@#$%^&*()", strict=True)
    },
    ecodes.KEY_SPACE: (" ", " "),
    ecodes.KEY_MINUS: ("-", "_"),
    ecodes.KEY_EQUAL: ("=", "+"),
    ecodes.KEY_LEFTBRACE: ("[", "{"),
    ecodes.KEY_RIGHTBRACE: ("]", "}"),
    ecodes.KEY_BACKSLASH: ("\\", "|"),
    ecodes.KEY_SEMICOLON: (";", ":"),
    ecodes.KEY_APOSTROPHE: ("'", '"'),
    ecodes.KEY_GRAVE: ("`", "~"),
    ecodes.KEY_COMMA: (",", "<"),
    ecodes.KEY_DOT: (".", ">"),
    ecodes.KEY_SLASH: ("/", "?"),
    # Some scanners type digits and operators on the keypad.
    **{getattr(ecodes, f"KEY_KP{digit}"): (digit, digit) for digit in "0123456789"},
    ecodes.KEY_KPMINUS: ("-", "-"),
    ecodes.KEY_KPPLUS: ("+", "+"),
    ecodes.KEY_KPASTERISK: ("*", "*"),
    ecodes.KEY_KPSLASH: ("/", "/"),
    ecodes.KEY_KPDOT: (".", "."),
}
_SHIFTS = frozenset({ecodes.KEY_LEFTSHIFT, ecodes.KEY_RIGHTSHIFT})
_ENTERS = frozenset({ecodes.KEY_ENTER, ecodes.KEY_KPENTER})


class KeystrokeDecoder:
    """Collects the characters of one scan until Enter; returns the payload then.

    Only key presses count (releases and auto-repeats do not); shift is tracked from its
    own press and release. A scan containing a key without a character, or longer than
    `max_length`, is dropped whole: a payload with a hole in it would be a wrong payload.
    """

    def __init__(self, max_length: int, *, label: str) -> None:
        if max_length < 1:
            raise ValueError("max_length must be at least 1")
        self._max_length = max_length
        self._label = label
        self._chars: list[str] = []
        self._shifts: set[int] = set()
        self._spoiled: str | None = None

    def feed(self, event: InputEvent) -> bytes | None:
        """Take one event; returns the payload when it ends a non-empty scan, else None."""
        if event.type != ecodes.EV_KEY:
            return None
        code, value = event.code, event.value
        if code in _SHIFTS:
            if value == KEY_DOWN:
                self._shifts.add(code)
            elif value == KEY_UP:
                self._shifts.discard(code)
            return None
        if value != KEY_DOWN:
            return None
        if code in _ENTERS:
            return self._end()
        keys = _KEYS.get(code)
        if keys is None:
            self._spoil(f"key {ecodes.KEY.get(code, code)} has no character")
        elif len(self._chars) >= self._max_length:
            self._spoil(f"longer than {self._max_length} characters")
        else:
            self._chars.append(keys[1] if self._shifts else keys[0])
        return None

    def reset(self) -> None:
        """Forget a partial scan and held keys (e.g. after the scanner was unplugged)."""
        self._chars.clear()
        self._shifts.clear()
        self._spoiled = None

    def _spoil(self, reason: str) -> None:
        if self._spoiled is None:
            self._spoiled = reason

    def _end(self) -> bytes | None:
        payload = "".join(self._chars).encode("ascii")
        spoiled = self._spoiled
        self._chars.clear()
        self._spoiled = None
        if spoiled is not None:
            logger.warning("%s: discarded a scan: %s", self._label, spoiled)
            return None
        return payload or None
