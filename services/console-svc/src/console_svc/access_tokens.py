"""The access tokens the console signs for its local users: the same kind of JWT an OpenID
Connect provider issues (issuer, audience, subject, expiry, email, rights), so the services
verify both the one way (casestream.http.access_tokens). Its public key is served as a JWKS."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from console_svc.config import LocalUser, Settings


class TokenSigner:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def _key(self) -> ec.EllipticCurvePrivateKey:
        if not self.settings.signing_key:
            raise RuntimeError("CONSOLE_SVC_SIGNING_KEY is not set: local users cannot sign in")
        key = load_pem_private_key(self.settings.signing_key.encode(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise RuntimeError("CONSOLE_SVC_SIGNING_KEY must be an EC P-256 private key")
        return key

    def issue(self, user: str, local: LocalUser, now: datetime) -> tuple[str, datetime]:
        expires = now + timedelta(seconds=self.settings.access_token_ttl_s)
        claims = {
            "iss": self.settings.jwt_issuer,
            "aud": self.settings.jwt_audience,
            "sub": user,
            "preferred_username": user,
            "email": local.email,
            "name": local.name,
            "rights": local.rights,
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
            "jti": str(uuid.uuid4()),
        }
        token = jwt.encode(
            claims, self._key, algorithm="ES256", headers={"kid": self.settings.signing_key_id}
        )
        return token, expires

    def jwks(self) -> dict[str, Any]:
        if not self.settings.signing_key:
            return {"keys": []}
        public = jwt.algorithms.ECAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        return {
            "keys": [{**public, "kid": self.settings.signing_key_id, "use": "sig", "alg": "ES256"}]
        }
