"""Kafka over TLS with a client certificate (mutual TLS), from the settings alone: the
producer, a consumer and the admin client of a service reach the broker only through a TLS
listener that checks their certificate, and a client without one, or in plaintext, gets
nowhere. Tansu 0.6 has no TLS listener, so a TLS proxy stands in front of it, and Tansu
advertises the proxy's port: every connection the clients make goes through TLS."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
import uuid
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from casestream import devinfra
from casestream.messaging.broker import create_broker, create_consumer, start_broker
from casestream.messaging.kafka_security import client_options
from casestream.settings import ServiceSettings
from casestream.testing.tcp_proxy import TcpProxy


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _write(folder: Path, stem: str, key, cert) -> tuple[str, str]:
    key_path, cert_path = folder / f"{stem}.key", folder / f"{stem}.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(cert_path), str(key_path)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> dict[str, str]:
    """A CA, the broker's certificate for 127.0.0.1 and a client certificate, all signed by it."""
    folder = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())

    def signed(subject: str, key, *, ca: bool = False, ip: str | None = None):
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(subject))
            .issuer_name(_name("casestream test CA"))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ip:
            names = [x509.IPAddress(ipaddress.ip_address(ip))]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(ca_key, hashes.SHA256())

    ca_cert = signed("casestream test CA", ca_key, ca=True)
    broker_key, client_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca_pem, _ = _write(folder, "ca", ca_key, ca_cert)
    broker_pem, broker_key_path = _write(
        folder, "broker", broker_key, signed("127.0.0.1", broker_key, ip="127.0.0.1")
    )
    client_pem, client_key_path = _write(folder, "client", client_key, signed("svc", client_key))
    return {
        "ca": ca_pem,
        "broker": broker_pem,
        "broker_key": broker_key_path,
        "client": client_pem,
        "client_key": client_key_path,
    }


@pytest.fixture(scope="module")
async def tls_broker(certificates, tmp_path_factory):
    """Tansu behind a TLS listener that wants a client certificate from the test CA."""
    plain, tls = devinfra.free_ports(2)
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    process = devinfra.start_tansu(plain, log, advertised_port=tls)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=certificates["ca"])
    server.load_cert_chain(certificates["broker"], certificates["broker_key"])
    server.verify_mode = ssl.CERT_REQUIRED
    proxy = await TcpProxy("127.0.0.1", plain, port=tls, tls=server).start()
    yield f"127.0.0.1:{tls}"
    await proxy.cut()
    process.kill()
    process.wait()


def settings(bootstrap: str, certificates: dict[str, str], **more) -> ServiceSettings:
    values = {
        "kafka_bootstrap_servers": bootstrap,
        "kafka_security_protocol": "SSL",
        "kafka_ssl_cafile": certificates["ca"],
        "kafka_ssl_certfile": certificates["client"],
        "kafka_ssl_keyfile": certificates["client_key"],
        "kafka_acks": 1,
        "service_name": "tls-test",
    }
    return ServiceSettings(**(values | more))


async def test_a_service_publishes_and_consumes_over_mutual_tls(tls_broker, certificates):
    config = settings(tls_broker, certificates)
    topic = f"tls-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=tls_broker, **client_options(config))
    await asyncio.wait_for(admin.start(), 30)
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()

    broker = create_broker(config)
    await asyncio.wait_for(start_broker(broker), 30)
    try:
        await broker.publish(b'{"hello": "tls"}', topic=topic, key=b"k")
    finally:
        await broker.stop()

    consumer = create_consumer(config, f"tls-{uuid.uuid4().hex[:6]}")
    consumer.subscribe([topic])
    await asyncio.wait_for(consumer.start(), 30)
    try:
        got = []
        for _ in range(40):
            batches = await consumer.getmany(timeout_ms=500)
            got += [r.value for records in batches.values() for r in records]
            if got:
                break
        assert got == [b'{"hello": "tls"}']
    finally:
        await consumer.stop()


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"kafka_ssl_certfile": None, "kafka_ssl_keyfile": None}, id="no client cert"),
        pytest.param({"kafka_security_protocol": "PLAINTEXT"}, id="plaintext"),
        pytest.param({"kafka_ssl_cafile": None}, id="the broker's CA not trusted"),
    ],
)
async def test_a_client_without_what_the_listener_wants_gets_nowhere(
    tls_broker, certificates, change
):
    config = settings(tls_broker, certificates, **change)
    admin = AIOKafkaAdminClient(
        bootstrap_servers=tls_broker, request_timeout_ms=3000, **client_options(config)
    )
    with pytest.raises((KafkaConnectionError, asyncio.TimeoutError, ssl.SSLError, OSError)):
        try:
            await asyncio.wait_for(admin.start(), 8)
            await asyncio.wait_for(admin.list_topics(), 8)
        finally:
            await admin.close()


def test_sasl_settings_become_the_clients_options(certificates):
    scram = client_options(
        settings(
            "b:9093",
            certificates,
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username="case-svc",
            kafka_sasl_password="pw",
        )
    )
    assert (scram["security_protocol"], scram["sasl_mechanism"]) == ("SASL_SSL", "SCRAM-SHA-512")
    assert (scram["sasl_plain_username"], scram["sasl_plain_password"]) == ("case-svc", "pw")
    assert isinstance(scram["ssl_context"], ssl.SSLContext)
    oauth = client_options(
        settings(
            "b:9093",
            certificates,
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_mechanism="OAUTHBEARER",
            kafka_sasl_oauth_token_url="https://sso.example.org/token",
        )
    )
    assert "ssl_context" not in oauth and "sasl_plain_username" not in oauth
    assert callable(oauth["sasl_oauth_token_provider"].token)
    assert client_options(ServiceSettings()) == {"security_protocol": "PLAINTEXT"}
