"""Signed JWT access tokens on a real service: the user, email and rights come from the
claims; a token with another key, issuer or audience, an expired one or an unsigned one is
refused (401); static tokens work as before beside them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from casestream.testing.services import STAFF_HEADERS


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _public_pem(key: ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


KEY = _key()


def token(key: Any = KEY, algorithm: str = "ES256", **claims: Any) -> str:
    now = datetime.now(UTC)
    values = {
        "iss": "casestream-console",
        "aud": "casestream",
        "sub": "jo",
        "email": "jo@example.org",
        "rights": ["cases:*:all"],
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
        **claims,
    }
    return jwt.encode({k: v for k, v in values.items() if v is not None}, key, algorithm=algorithm)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


@pytest.fixture
def verifying(service):
    """The service verifies tokens signed with KEY (its public key in its settings)."""
    service.settings.jwt_public_key = _public_pem(KEY)
    yield service
    service.settings.jwt_public_key = None


async def test_the_claims_say_who_it_is_and_what_they_may_do(verifying):
    client = verifying.client
    mine = await client.post(
        "/cases",
        json={
            "case_type": "general_enquiry",
            "subject": f"jwt {uuid.uuid4().hex[:6]}",
            "client": {"first_name": "Tok", "last_name": "En", "email": "tok@example.org"},
        },
        headers=bearer(token(rights=["cases:*:all", "add_cases"])),
    )
    assert mine.status_code == 201, mine.text
    assert mine.json()["created_by"] == "jo"
    # The rights are the claim's: without configure, no new instance ...
    refused = await client.post(
        "/instances",
        json={
            "name": "nope",
            "label": "N",
            "singular_label": "N",
            "instance_type": "case_management",
        },
        headers=bearer(token()),
    )
    assert refused.status_code == 403
    assert "configure" in refused.json()["detail"]
    # ... and a space-separated claim is read as a list, as some providers send it.
    listed = await client.get("/cases", headers=bearer(token(rights="cases:cases:own other")))
    assert listed.status_code == 200
    assert all(c["assignee"] == "jo" or c["created_by"] == "jo" for c in listed.json()["items"])


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(lambda: token(key=_key()), id="another key"),
        pytest.param(lambda: token(iss="someone-else"), id="another issuer"),
        pytest.param(lambda: token(aud="another-app"), id="another audience"),
        pytest.param(
            lambda: token(exp=int((datetime.now(UTC) - timedelta(minutes=5)).timestamp())),
            id="expired",
        ),
        pytest.param(lambda: token(exp=None), id="no expiry"),
        pytest.param(lambda: token(key=None, algorithm="none"), id="unsigned"),
        pytest.param(
            lambda: token(key="a shared secret of thirty-two bytes or more", algorithm="HS256"),
            id="HMAC",
        ),
    ],
)
async def test_a_token_that_is_not_ours_is_refused(verifying, bad):
    answer = await verifying.client.get("/cases", headers=bearer(bad()))
    assert answer.status_code == 401, answer.text
    assert answer.json()["detail"].startswith("invalid access token")
    assert "invalid_token" in answer.headers["www-authenticate"]


async def test_without_a_key_no_signed_token_is_taken_but_static_tokens_are(service):
    assert service.settings.jwt_public_key is None
    assert (await service.client.get("/cases", headers=bearer(token()))).status_code == 401
    assert (await service.client.get("/cases", headers=STAFF_HEADERS)).status_code == 200
