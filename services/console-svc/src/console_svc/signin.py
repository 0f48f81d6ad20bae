"""Signing in: against the console's local users (argon2 password hashes in settings, tokens
signed with the console's key) or, when a provider is configured, through OpenID Connect
(authorization code with PKCE; the provider's access tokens go to the services). Either way
the services get a signed JWT and verify it the one way (casestream.http.access_tokens)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from casestream.http.access_tokens import AccessTokenVerifier, InvalidAccessToken
from console_svc.access_tokens import TokenSigner
from console_svc.config import Settings
from console_svc.services_api import SignInRequired
from console_svc.sessions import SessionStore, SignedIn

_hasher = PasswordHasher()
# Checked when the user name is unknown, so that a wrong name costs as long as a wrong password.
_NOBODY = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


class SignIn:
    def __init__(self, settings: Settings, sessions: SessionStore) -> None:
        self.settings = settings
        self.sessions = sessions
        self.signer = TokenSigner(settings)
        self._provider: dict[str, Any] | None = None

    @property
    def uses_provider(self) -> bool:
        return bool(self.settings.oidc_issuer)

    # -- local users ------------------------------------------------------------------------

    def password_matches(self, user: str, password: str) -> bool:
        local = self.settings.users.get(user)
        try:
            return _hasher.verify(local.password_hash if local else _NOBODY, password) and bool(
                local
            )
        except (VerificationError, InvalidHashError):
            return False

    async def open_local(self, user: str, now: datetime) -> str:
        local = self.settings.users[user]
        token, expires = self.signer.issue(user, local, now)
        return await self.sessions.open(
            user=user,
            name=local.name,
            email=local.email,
            rights=local.rights,
            access_token=token,
            access_expires_at=expires,
            refresh_token=None,
            now=now,
        )

    # -- renewal ----------------------------------------------------------------------------

    async def renew(self, session: SignedIn) -> SignedIn:
        """A fresh access token for a session whose token runs out; none: sign in again."""
        now = datetime.now(UTC)
        if not self.uses_provider:
            local = self.settings.users.get(session.user)
            if local is None:  # removed from the users since: their session ends
                raise SignInRequired()
            token, expires = self.signer.issue(session.user, local, now)
            return await self.sessions.renew_access(session, token, expires, None)
        if not session.refresh_token:
            raise SignInRequired()
        try:
            answer = await self._token(
                {"grant_type": "refresh_token", "refresh_token": session.refresh_token}
            )
        except httpx.HTTPError as error:  # the provider refused: the session is over
            raise SignInRequired() from error
        expires = now + timedelta(seconds=int(answer.get("expires_in", 300)))
        return await self.sessions.renew_access(
            session, answer["access_token"], expires, answer.get("refresh_token")
        )

    # -- OpenID Connect ---------------------------------------------------------------------

    async def provider(self) -> dict[str, Any]:
        if self._provider is None:
            issuer = str(self.settings.oidc_issuer).rstrip("/")
            async with httpx.AsyncClient(timeout=self.settings.api_timeout_s) as client:
                answer = await client.get(f"{issuer}/.well-known/openid-configuration")
                answer.raise_for_status()
                self._provider = answer.json()
        return self._provider

    async def _token(self, form: dict[str, str]) -> dict[str, Any]:
        """A call to the provider's token endpoint (as a confidential client when the
        console has a secret)."""
        metadata = await self.provider()
        auth = (
            (str(self.settings.oidc_client_id), self.settings.oidc_client_secret)
            if self.settings.oidc_client_secret
            else None
        )
        body = {**form, "client_id": str(self.settings.oidc_client_id)}
        async with httpx.AsyncClient(timeout=self.settings.api_timeout_s) as client:
            answer = await client.post(metadata["token_endpoint"], data=body, auth=auth)
            answer.raise_for_status()
            found: dict[str, Any] = answer.json()
        return found

    async def authorization(self, redirect_uri: str) -> tuple[str, dict[str, str]]:
        """Where to send the browser, and what the callback must find again (kept in a
        short-lived HttpOnly cookie): the state and the PKCE verifier (RFC 7636, S256)."""
        metadata = await self.provider()
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        state = secrets.token_urlsafe(24)
        query = {
            "response_type": "code",
            "client_id": str(self.settings.oidc_client_id),
            "redirect_uri": redirect_uri,
            "scope": self.settings.oidc_scopes,
            "state": state,
            "code_challenge": challenge.decode().rstrip("="),
            "code_challenge_method": "S256",
        }
        url = f"{metadata['authorization_endpoint']}?{urlencode(query)}"
        return url, {"state": state, "verifier": verifier, "redirect_uri": redirect_uri}

    async def open_from_provider(self, code: str, flow: dict[str, str], now: datetime) -> str:
        try:
            answer = await self._token(
                {
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": flow["redirect_uri"],
                    "code_verifier": flow["verifier"],
                }
            )
        except httpx.HTTPError as error:
            raise SignInRequired() from error
        access = answer["access_token"]
        try:
            # The services' own check: a token they would refuse signs no one in.
            verifier = AccessTokenVerifier(self.settings)
            claims = await asyncio.to_thread(verifier.verify, access)
        except InvalidAccessToken as error:
            raise SignInRequired() from error
        expires = now + timedelta(seconds=int(answer.get("expires_in", 300)))
        return await self.sessions.open(
            user=claims.user,
            name=claims.name,
            email=claims.email,
            rights=sorted(claims.rights),
            access_token=access,
            access_expires_at=expires,
            refresh_token=answer.get("refresh_token"),
            now=now,
        )
