"""A TCP proxy a test can cut: what a service sees when the network to its database or
broker fails (connections dropped, then refused) and comes back, with the real server
behind it."""

from __future__ import annotations

import asyncio
import contextlib
import ssl


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``host``:``target_port``. ``cut()`` drops every
    connection and refuses new ones; ``mend()`` listens again on the same port. With
    ``tls``, it speaks TLS to its clients (and plain TCP to the server): a TLS listener in
    front of a server that has none. ``port``: the one to listen on (0: any free one)."""

    def __init__(
        self, host: str, target_port: int, *, port: int = 0, tls: ssl.SSLContext | None = None
    ) -> None:
        self.host = host
        self.target_port = target_port
        self.port = port
        self.tls = tls
        self._server: asyncio.Server | None = None
        self._streams: set[asyncio.StreamWriter] = set()

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(
            self._forward, "127.0.0.1", self.port, reuse_address=True, ssl=self.tls
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._streams):
            writer.transport.abort()
        self._streams.clear()

    async def mend(self) -> None:
        await self.start()

    async def _forward(
        self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
    ) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(self.host, self.target_port)
        except OSError:
            client_w.transport.abort()
            return
        self._streams |= {client_w, server_w}
        await asyncio.gather(_pipe(client_r, server_w), _pipe(server_r, client_w))
        self._streams -= {client_w, server_w}


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()
