from typing import Literal

from casestream.settings import ServiceSettings


class Settings(ServiceSettings, service="notify-svc"):
    http_port: int = 8040

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_sender: str = "casestream <noreply@casestream.local>"
    smtp_username: str | None = None
    smtp_password: str | None = None
    # "tls": TLS from the first byte (port 465); "starttls": upgrade after EHLO (587).
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    # Check the server's certificate (and name). Production keeps this True; only a test or
    # local server with a self-signed certificate turns it off.
    smtp_tls_verify: bool = True
    smtp_timeout_s: float = 10.0

    send_max_attempts: int = 8
    send_backoff_initial_s: float = 5.0
    send_backoff_max_s: float = 900.0
    delivery_poll_interval_s: float = 0.5
    delivery_batch_size: int = 20
    # A claimed email is retried after this long if its worker died mid-send. A batch starts
    # no send after half of it, so half must be longer than one SMTP conversation can take.
    delivery_lease_s: float = 120.0
    # A send_email command whose case is not in the read model yet waits for it (held),
    # then fails after this long: an email an hour late is no longer the email asked for.
    held_give_up_s: float = 3600.0
