"""How every Kafka client of a service (its producer, its consumers, the admin client that
makes topics) authenticates and encrypts, from its settings: TLS with a CA and optionally a
client certificate, SASL PLAIN or SCRAM with a user name and password, or SASL OAUTHBEARER
with tokens from an OAuth 2 token endpoint. One place, so no client is left plaintext."""

from __future__ import annotations

import ssl
import time
from typing import Any

import httpx
from aiokafka.abc import AbstractTokenProvider
from aiokafka.helpers import create_ssl_context

from casestream.settings import ServiceSettings


class ClientCredentialsTokens(AbstractTokenProvider):  # type: ignore[misc]  # untyped
    """OAUTHBEARER tokens: the client credentials grant, each token kept until a minute
    before it runs out."""

    def __init__(self, settings: ServiceSettings) -> None:
        self.settings = settings
        self._token: str | None = None
        self._until = 0.0

    async def token(self) -> str:
        if self._token is None or time.monotonic() > self._until:
            s = self.settings
            form = {"grant_type": "client_credentials"}
            if s.kafka_sasl_oauth_scope:
                form["scope"] = s.kafka_sasl_oauth_scope
            async with httpx.AsyncClient(timeout=s.kafka_request_timeout_s) as client:
                answer = await client.post(
                    str(s.kafka_sasl_oauth_token_url),
                    data=form,
                    auth=(
                        str(s.kafka_sasl_oauth_client_id),
                        s.kafka_sasl_oauth_client_secret or "",
                    ),
                )
                answer.raise_for_status()
                body = answer.json()
            self._token = str(body["access_token"])
            self._until = time.monotonic() + max(int(body.get("expires_in", 300)) - 60, 10)
        return self._token


def ssl_context(settings: ServiceSettings) -> ssl.SSLContext | None:
    if "SSL" not in settings.kafka_security_protocol:
        return None
    context: ssl.SSLContext = create_ssl_context(
        cafile=settings.kafka_ssl_cafile,
        certfile=settings.kafka_ssl_certfile,
        keyfile=settings.kafka_ssl_keyfile,
        password=settings.kafka_ssl_key_password,
    )
    context.check_hostname = settings.kafka_ssl_check_hostname
    return context


def client_options(settings: ServiceSettings) -> dict[str, Any]:
    """The keyword arguments of an aiokafka client (consumer, producer, admin)."""
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {"security_protocol": protocol}
    if context := ssl_context(settings):
        options["ssl_context"] = context
    if protocol.startswith("SASL"):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        if settings.kafka_sasl_mechanism == "OAUTHBEARER":
            options["sasl_oauth_token_provider"] = ClientCredentialsTokens(settings)
        else:
            options["sasl_plain_username"] = settings.kafka_sasl_username
            options["sasl_plain_password"] = settings.kafka_sasl_password
    return options


def broker_options(settings: ServiceSettings) -> dict[str, Any]:
    """The same for FastStream's KafkaBroker (it takes a security object, not the options)."""
    from faststream.security import (
        BaseSecurity,
        SASLOAuthBearer,
        SASLPlaintext,
        SASLScram256,
        SASLScram512,
    )

    protocol = settings.kafka_security_protocol
    context = ssl_context(settings)
    if protocol == "PLAINTEXT":
        return {}
    if protocol == "SSL":
        return {"security": BaseSecurity(ssl_context=context, use_ssl=True)}
    use_ssl = protocol == "SASL_SSL"
    mechanism = settings.kafka_sasl_mechanism
    if mechanism == "OAUTHBEARER":
        return {
            "security": SASLOAuthBearer(ssl_context=context, use_ssl=use_ssl),
            "sasl_oauth_token_provider": ClientCredentialsTokens(settings),
        }
    kind = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}
    security = kind[mechanism](
        username=settings.kafka_sasl_username or "",
        password=settings.kafka_sasl_password or "",
        ssl_context=context,
        use_ssl=use_ssl,
    )
    return {"security": security}
