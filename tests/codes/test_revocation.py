from __future__ import annotations

import pytest

from gateway.codes.revocation import RevocationList, parse_crl

KID = "3Kfdg-XwP-7gXyywtUfUADwBumDOPKMQx-iELL11W9s"


def test_a_rid_with_a_cutoff_revokes_only_cards_issued_before_it() -> None:
    crl = RevocationList.from_entries(1, ["always", "until.1000"])
    assert crl.revokes("always", 5000.0)
    assert crl.revokes("until", 999.9)
    assert not crl.revokes("until", 1000.0)
    assert not crl.revokes("other", 1.0)


def test_a_rid_listed_twice_keeps_the_widest_revocation() -> None:
    assert RevocationList.from_entries(1, ["a.10", "a.20"]).rids == {"a": 20}
    assert RevocationList.from_entries(1, ["a.10", "a"]).rids == {"a": None}
    assert RevocationList.from_entries(1, ["a", "a.10"]).rids == {"a": None}


def test_entries_round_trip() -> None:
    entries = ["vwAjHdarZuc.1687450765", "FKDIxsTCGlU"]
    assert RevocationList.from_entries(3, entries).entries() == sorted(entries)


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"kid": "other", "method": "rid", "ctr": 1, "rids": []}, "list of key 'other'"),
        ({"kid": KID, "method": "hash", "ctr": 1, "rids": []}, "method 'hash'"),
        ({"kid": KID, "method": "rid", "ctr": "1", "rids": []}, "ctr must be"),
        ({"kid": KID, "method": "rid", "ctr": 1, "rids": "a"}, "rids must be a list"),
        ({"kid": KID, "method": "rid", "ctr": 1, "rids": ["x" * 25]}, "up to 24"),
        ({"kid": KID, "method": "rid", "ctr": 1, "rids": ["a.b"]}, "optional time"),
        ([], "not a JSON object"),
    ],
)
def test_bad_crls(document: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_crl(document, KID)
