"""A serial device behind a TCP socket, as ser2net serves one.

``SerialPeer`` is a TCP server that speaks a serial protocol: it cuts the
bytes it receives into requests and writes back what an answer function
returns. pyserial reaches it as ``socket://HOST:PORT``, the way a device on
another machine is reached through ser2net. Tests give it scripted answers
(captured frames, garbage, silence); the BMS emulators (``sim.devices.bms``)
and the Voltronic inverter (``sim.devices.voltronic``) answer from a ``Site``.
"""

import asyncio
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Self

# Given the bytes received so far, the length of the first whole request.
type RequestEnd = Callable[[bytes], int | None]
# Given a request, the bytes to answer (none: stay silent).
type Answer = Callable[[bytes], bytes]

_READ_SIZE = 4096
# The latest requests a peer keeps, for tests and troubleshooting.
_KEPT_REQUESTS = 64


class SerialPeer:
    """A serial device behind a TCP socket: requests in, answers out."""

    def __init__(
        self,
        request_end: RequestEnd,
        answer: Answer,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        """Describe the peer; nothing listens before ``start``."""
        self.host = host
        self.port = port
        self.requests: deque[bytes] = deque(maxlen=_KEPT_REQUESTS)
        self.request_count = 0
        self._request_end = request_end
        self._answer = answer
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        """Return the pyserial URL that reaches the peer."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"socket://{host}:{self.port}"

    async def start(self) -> None:
        """Listen; port 0 picks a free port, ``port`` tells which."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop the clients."""
        if self._server is None:
            return
        server, self._server = self._server, None
        server.close()
        for writer in list(self._connections):
            writer.close()
        await server.wait_closed()

    async def __aenter__(self) -> Self:
        """Start serving."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop serving."""
        await self.stop()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Answer one client's requests until it goes away."""
        self._connections.add(writer)
        buffer = b""
        try:
            while chunk := await reader.read(_READ_SIZE):
                buffer += chunk
                while (length := self._request_end(buffer)) is not None:
                    request, buffer = buffer[:length], buffer[length:]
                    self.requests.append(request)
                    self.request_count += 1
                    if reply := self._answer(request):
                        writer.write(reply)
                        await writer.drain()
        except ConnectionError:
            pass
        finally:
            self._connections.discard(writer)
            writer.close()
