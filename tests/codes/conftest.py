from __future__ import annotations

import pytest

from gateway.codes.cose import Algorithm
from tests.codes.issuer import Issuer


@pytest.fixture(params=[Algorithm.EDDSA, Algorithm.ES256], ids=["EdDSA", "ES256"])
def issuer(request: pytest.FixtureRequest) -> Issuer:
    """A trusted community issuer, once with an Ed25519 key and once with a P-256 key."""
    return Issuer.generate(request.param)
