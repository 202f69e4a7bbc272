"""Masking of names and numbers before they are shown or stored."""

from __future__ import annotations


def mask_name(name: str) -> str:
    """'张小华' → '张*华', '张华' → '张*', 'Alice Smith' → 'A*** S****'."""
    name = name.strip()
    if " " in name:
        return " ".join(_mask_word(word) for word in name.split())
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def _mask_word(word: str) -> str:
    return word[:1] + "*" * (len(word) - 1)


def mask_digits(number: str, keep: int = 4) -> str:
    """Keep only the last `keep` digits: '13812345678' → '*******5678'."""
    digits = "".join(ch for ch in number if ch.isdigit())
    return "*" * max(len(digits) - keep, 0) + digits[-keep:]
