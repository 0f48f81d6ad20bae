"""An SMTP server that delivers nowhere: it keeps every message and lists them over HTTP.

SMTP on 127.0.0.1:1025, HTTP on 127.0.0.1:8025:
``GET /messages`` (oldest first, newest last; ``?to=`` filters by recipient),
``GET /messages/{id}`` (headers, text and html bodies, raw), ``GET /messages/{id}/raw``
(the .eml), ``DELETE /messages``, ``DELETE /messages/{id}``.

In a test: ``async with SmtpSink(0, 0) as sink:`` (port 0 picks free ports, read back from
``sink.smtp_port`` / ``sink.http_port``), or ``with SmtpSink(...)`` from synchronous code (runs
in a thread). As a process:
``python -m casestream_local.smtp_sink --smtp-port 1025 --http-port 8025 --folder .data/mail``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from casestream_local.mail_api import create_http_app
from casestream_local.mail_store import MailStore


class _Deliver:
    """aiosmtpd handler: every message is accepted and stored."""

    def __init__(self, store: MailStore) -> None:
        self.store = store

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        self.store.add(envelope.mail_from or "", [str(r) for r in envelope.rcpt_tos], raw)
        return "250 Message accepted for delivery"


def _accept_any_login(*_: Any) -> AuthResult:
    # A sink: whatever credentials a sender is configured with are fine.
    return AuthResult(success=True)


class _HttpServer(uvicorn.Server):
    # Signals belong to whoever embeds the sink (a test runner, or main() below).
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class SmtpSink:
    def __init__(
        self,
        smtp_port: int = 1025,
        http_port: int = 8025,
        folder: Path | str | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.host = host
        self.smtp_port = smtp_port
        self.http_port = http_port
        self.store = MailStore(Path(folder) if folder is not None else None)
        self._smtp: asyncio.Server | None = None
        self._http: _HttpServer | None = None
        self._http_task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    async def start(self) -> None:
        self.store.load()
        loop = asyncio.get_running_loop()
        self._smtp = await loop.create_server(
            lambda: SMTP(
                _Deliver(self.store),
                hostname="casestream-smtp-sink",
                enable_SMTPUTF8=True,
                auth_require_tls=False,
                authenticator=_accept_any_login,
            ),
            self.host,
            self.smtp_port,
        )
        self.smtp_port = self._smtp.sockets[0].getsockname()[1]
        # Bind the HTTP socket ourselves: a busy port then raises OSError here, where uvicorn
        # would call sys.exit inside a task.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.http_port))
        except OSError:
            sock.close()
            await self._close_smtp()
            raise
        sock.listen(128)
        self.http_port = sock.getsockname()[1]
        config = uvicorn.Config(
            create_http_app(self.store), log_level="warning", access_log=False, lifespan="off"
        )
        self._http = _HttpServer(config)
        self._http_task = asyncio.create_task(self._http.serve(sockets=[sock]))
        while not self._http.started:
            if self._http_task.done():
                await self._close_smtp()
                raise RuntimeError("the SMTP sink's HTTP API did not start")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self._http is not None and self._http_task is not None:
            self._http.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._http_task
            self._http = self._http_task = None
        await self._close_smtp()

    async def _close_smtp(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
            await self._smtp.wait_closed()
            self._smtp = None

    async def __aenter__(self) -> SmtpSink:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # Synchronous use: the sink runs on its own event loop in a thread.
    def start_in_thread(self) -> None:
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start())
            except BaseException as error:
                failure.append(error)
                started.set()
                loop.close()
                return
            started.set()
            loop.run_forever()
            loop.close()

        self._thread_loop = loop
        self._thread = threading.Thread(target=run, name="smtp-sink", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            self._thread = self._thread_loop = None
            raise failure[0]

    def stop_in_thread(self) -> None:
        if self._thread is None or self._thread_loop is None:
            return
        asyncio.run_coroutine_threadsafe(self.stop(), self._thread_loop).result(30)
        self._thread_loop.call_soon_threadsafe(self._thread_loop.stop)
        self._thread.join(30)
        self._thread = self._thread_loop = None

    def __enter__(self) -> SmtpSink:
        self.start_in_thread()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_in_thread()


async def _serve_until_signalled(sink: SmtpSink) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await sink.start()
    print(
        f"SMTP sink: smtp://{sink.host}:{sink.smtp_port}, messages at {sink.http_url}/messages"
        f" ({len(sink.store.messages())} kept from before)",
        flush=True,
    )
    await stop.wait()
    await sink.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m casestream_local.smtp_sink")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--http-port", type=int, default=8025)
    parser.add_argument("--folder", type=Path, default=None, help="keep messages as .eml files")
    args = parser.parse_args(argv)
    sink = SmtpSink(args.smtp_port, args.http_port, args.folder, host=args.host)
    asyncio.run(_serve_until_signalled(sink))


if __name__ == "__main__":
    main()
