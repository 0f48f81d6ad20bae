from typing import Literal

from casestream.settings import ServiceSettings


class Settings(ServiceSettings, service="notify-svc"):
    http_port: int = 8040

    # The SMTP server emails go out through.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    # The From of every email.
    smtp_sender: str = "casestream <noreply@casestream.local>"
    # Credentials for SMTP AUTH (none: no AUTH).
    smtp_username: str | None = None
    smtp_password: str | None = None
    # "tls": TLS from the first byte (port 465); "starttls": upgrade after EHLO (587).
    smtp_tls: Literal["none", "starttls", "tls"] = "none"
    # Check the server's certificate (and name). Production keeps this True; only a test or
    # local server with a self-signed certificate turns it off.
    smtp_tls_verify: bool = True
    # How long the SMTP server may take to answer before a send counts as failed (and is
    # retried with the same Message-ID).
    smtp_timeout_s: float = 10.0

    # An email that fails to send is tried this many times in all, waiting from the initial
    # backoff, doubled each time up to the longest, then marked failed.
    send_max_attempts: int = 8
    send_backoff_initial_s: float = 5.0
    send_backoff_max_s: float = 900.0
    # The delivery worker looks for due emails this often, and sends up to this many over
    # one SMTP connection.
    delivery_poll_interval_s: float = 0.5
    delivery_batch_size: int = 20
    # A claimed email is retried after this long if its worker died mid-send. A batch starts
    # no send after half of it, so half must be longer than one SMTP conversation can take.
    delivery_lease_s: float = 120.0
    # A send_email command whose case is not in the read model yet waits for it (held),
    # then fails after this long: an email an hour late is no longer the email asked for.
    held_give_up_s: float = 3600.0
