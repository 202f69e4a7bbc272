"""What a health code certifies, and the colour a site gives it: health codes carry none."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gateway.core.values import CodeStatus


class Statement(StrEnum):
    """The kind of health statement a code makes (the EU DCC's v, t and r)."""

    VACCINATION = "vaccination"
    TEST = "test"
    RECOVERY = "recovery"


@dataclass(frozen=True, slots=True)
class ColourRule:
    """The site's colour for a valid health code, by the statement it makes.

    Only valid codes take a colour from here; any other check decides on its own.
    """

    vaccination: CodeStatus = CodeStatus.GREEN
    test: CodeStatus = CodeStatus.GREEN
    recovery: CodeStatus = CodeStatus.GREEN
    other: CodeStatus = CodeStatus.GREEN  # a code that names no statement we know

    def colour(self, statement: Statement | None) -> CodeStatus:
        if statement is None:
            return self.other
        return {
            Statement.VACCINATION: self.vaccination,
            Statement.TEST: self.test,
            Statement.RECOVERY: self.recovery,
        }[statement]
