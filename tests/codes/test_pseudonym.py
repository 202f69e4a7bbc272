from __future__ import annotations

import re

import pytest

from gateway.codes.pseudonym import normalise_subject_id, person_pseudonym, pseudonym

SECRET = b"0123456789abcdef0123456789abcdef"


def test_pseudonym_is_26_lowercase_base32_characters() -> None:
    value = pseudonym(SECRET, "11010119900307777X")
    assert re.fullmatch(r"[a-z2-7]{26}", value)


def test_normalised_forms_of_one_id_give_one_pseudonym() -> None:
    plain = pseudonym(SECRET, "11010119900307777X")
    assert pseudonym(SECRET, "  11010119900307777x\n") == plain
    assert pseudonym(SECRET, "１１０１０１１９９００３０７７７７Ｘ") == plain  # full-width
    assert normalise_subject_id("\u3000ab１\u3000") == "AB1"


def test_pseudonym_depends_on_id_and_secret() -> None:
    assert pseudonym(SECRET, "A1") != pseudonym(SECRET, "A2")
    assert pseudonym(SECRET, "A1") != pseudonym(SECRET[::-1], "A1")


def test_pseudonym_does_not_contain_the_id() -> None:
    assert "123456" not in pseudonym(SECRET, "123456")


def test_empty_id_or_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="subject id"):
        pseudonym(SECRET, "  ")
    with pytest.raises(ValueError, match="secret"):
        pseudonym(b"", "A1")


def test_a_person_by_name_and_birth_date() -> None:
    icao = person_pseudonym(
        SECRET, family="MUSTERFRAU<GOESSINGER", given="GABRIELE", birth_date="1998-02-26"
    )
    assert re.fullmatch(r"[a-z2-7]{26}", icao)
    typed = person_pseudonym(
        SECRET, family=" Musterfrau-Goessinger ", given="gabriele", birth_date="1998-02-26"
    )
    assert typed == icao
    assert person_pseudonym(SECRET, family="X", given="A B", birth_date="") == person_pseudonym(
        SECRET, family="x", given="a<b", birth_date=""
    )
    # Family and given names do not run into each other, nor into the date.
    assert person_pseudonym(SECRET, family="AB", given="C", birth_date="") != person_pseudonym(
        SECRET, family="A", given="BC", birth_date=""
    )
    assert icao != person_pseudonym(
        SECRET, family="MUSTERFRAU<GOESSINGER", given="GABRIELE", birth_date="1998-02-27"
    )
