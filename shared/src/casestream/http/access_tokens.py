"""Signed JWT access tokens, the one verification path for every way staff sign in: the
console's local users (tokens signed with its own key) and an OpenID Connect provider (keys
from its JWKS URL). Who the bearer is and what they may do come from the claims; the
signature, issuer, audience and expiry are checked here, once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from casestream.settings import ServiceSettings


class InvalidAccessToken(Exception):
    """The token is not one of ours: bad signature, wrong issuer or audience, expired."""


@dataclass(frozen=True)
class Claims:
    user: str
    rights: frozenset[str]
    email: str | None
    name: str | None


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2


class AccessTokenVerifier:
    """Built from a service's settings; ``enabled`` when a key or a JWKS URL is set."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self.config = self.config_of(settings)
        self._key: Any = None
        self._jwks: jwt.PyJWKClient | None = None
        if settings.jwt_public_key:
            self._key = load_pem_public_key(settings.jwt_public_key.encode())
        elif settings.jwt_jwks_url:
            # Keys are fetched once and kept (an unknown key id fetches again: a rotation).
            self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url, cache_keys=True, lifespan=3600)

    @staticmethod
    def config_of(settings: ServiceSettings) -> tuple[Any, ...]:
        s = settings
        return (s.jwt_public_key, s.jwt_jwks_url, s.jwt_issuer, s.jwt_audience, s.jwt_rights_claim)

    @property
    def enabled(self) -> bool:
        return self._key is not None or self._jwks is not None

    def verify(self, token: str) -> Claims:
        """Blocking when the JWKS must be fetched: call it from a worker thread."""
        if not self.enabled:
            raise InvalidAccessToken("signed tokens are not accepted here")
        s = self.settings
        try:
            key = (
                self._key if self._jwks is None else self._jwks.get_signing_key_from_jwt(token).key
            )
            claims = jwt.decode(
                token,
                key,
                algorithms=s.jwt_algorithms,
                audience=s.jwt_audience,
                issuer=s.jwt_issuer,
                leeway=s.jwt_leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except (jwt.PyJWTError, ValueError) as error:
            raise InvalidAccessToken(str(error)) from error
        return Claims(
            user=str(claims.get("preferred_username") or claims["sub"]),
            rights=frozenset(_rights(claims.get(s.jwt_rights_claim))),
            email=claims.get("email"),
            name=claims.get("name"),
        )


def _rights(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [str(v) for v in value]
    return []
