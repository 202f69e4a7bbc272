"""Rules attached to the entry's dataclass fields, from which every other shape is derived.

`Entry` (gateway.core.values) is the one definition of an entry's fields; each field may carry
`rules(...)` in its metadata. `gateway.core.entry_schema` reads them to give the storage
columns, the wire form, the JSON schema and the export columns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Rules:
    """What a field must hold beyond its type, and where it goes.

    `pattern`, `min_length`, `max_length` and `minimum` constrain it on the wire; `big` makes
    an integer 64-bit in tables; `fixed` means a later revision never changes it;
    `wire_default` makes it optional on the wire (it came later).
    """

    pattern: str | None = None
    min_length: int | None = None
    max_length: int | None = None
    minimum: int | None = None
    big: bool = False
    fixed: bool = False
    wire_default: Any = ...
    description: str = ""

    @property
    def maximum(self) -> int:
        """The largest integer its column holds (a signed 64- or 32-bit integer)."""
        return 2**63 - 1 if self.big else 2**31 - 1


RULES = "rules"


def rules(**kwargs: Any) -> dict[str, Rules]:
    """Dataclass field metadata: `field(metadata=rules(min_length=1))`."""
    return {RULES: Rules(**kwargs)}
