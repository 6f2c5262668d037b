"""The raw serial link, through pyserial's socket:// against a real peer."""

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from custom_components.energy_orchestrator.lib.drivers.errors import (
    DeviceSilentError,
    LinkError,
)
from custom_components.energy_orchestrator.lib.drivers.transport.endpoint import (
    parse_endpoint,
)
from custom_components.energy_orchestrator.lib.drivers.transport.serial_link import (
    SerialLink,
)


def _until_cr(buffer: bytes) -> int | None:
    end = buffer.find(b"\r")
    return None if end < 0 else end + 1


# Given a request line, the bytes to answer and how long to wait first.
type Answer = Callable[[bytes], tuple[float, bytes]]


@pytest.fixture
async def peer() -> AsyncIterator[Callable[[Answer], asyncio.Future[int]]]:
    """Start socket peers that answer each request line with ``answer``."""
    servers: list[asyncio.Server] = []

    async def start(answer: Answer) -> int:
        async def handle(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> None:
            try:
                while request := await reader.readuntil(b"\r"):
                    delay, reply = answer(request)
                    await asyncio.sleep(delay)
                    writer.write(reply)
                    await writer.drain()
            except asyncio.IncompleteReadError, ConnectionError:
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    yield lambda answer: asyncio.ensure_future(start(answer))
    for server in servers:
        server.close()
        await server.wait_closed()


async def test_request_and_answer(
    peer: Callable[[Answer], asyncio.Future[int]],
) -> None:
    port = await peer(lambda request: (0, b"ECHO " + request))
    link = SerialLink(parse_endpoint(f"socket://127.0.0.1:{port}", baudrate=2400))
    assert await link.transact(b"QPIGS\r", _until_cr) == b"ECHO QPIGS\r"
    assert await link.transact(b"QMOD\r", _until_cr) == b"ECHO QMOD\r"
    assert link.stats.requests == 2
    assert link.stats.connects == 1
    await link.close()


async def test_half_an_answer_is_silence(
    peer: Callable[[Answer], asyncio.Future[int]],
) -> None:
    port = await peer(lambda request: (0, b"(230.0 50.0"))
    link = SerialLink(parse_endpoint(f"socket://127.0.0.1:{port}"), timeout=0.3)
    with pytest.raises(DeviceSilentError, match=r"\(11 bytes received\)"):
        await link.transact(b"QPIGS\r", _until_cr)
    await link.close()


async def test_a_late_answer_is_not_taken_for_the_next(
    peer: Callable[[Answer], asyncio.Future[int]],
) -> None:
    def late_first(request: bytes) -> tuple[float, bytes]:
        if request == b"ONE\r":
            return 0.5, b"LATE ONE\r"
        return 0, b"TWO OK\r"

    port = await peer(late_first)
    link = SerialLink(parse_endpoint(f"socket://127.0.0.1:{port}"), timeout=0.3)
    with pytest.raises(DeviceSilentError):
        await link.transact(b"ONE\r", _until_cr)
    await asyncio.sleep(0.4)  # the late answer lands in the input buffer
    assert await link.transact(b"TWO\r", _until_cr) == b"TWO OK\r"
    await link.close()


async def test_unreachable_port(closed_port: int) -> None:
    link = SerialLink(parse_endpoint(f"socket://127.0.0.1:{closed_port}"))
    with pytest.raises(LinkError, match="cannot connect to socket://"):
        await link.transact(b"QPIGS\r", _until_cr)


async def test_missing_device_path() -> None:
    link = SerialLink(parse_endpoint("/dev/ttyEO-does-not-exist"))
    with pytest.raises(LinkError, match="ttyEO-does-not-exist"):
        await link.transact(b"QPIGS\r", _until_cr)
