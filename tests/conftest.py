"""Shared fixtures: Home Assistant's test harness and the simulated site."""

from collections.abc import AsyncIterator, Awaitable, Callable
import socket
from types import SimpleNamespace

import pytest

from custom_components.energy_orchestrator.lib.drivers.transport import link
from eo_lab.sim.devices.serial_peer import Answer, RequestEnd, SerialPeer
from eo_lab.sim.simulated_site import SimulatedSite

from .fuzzing import LONG, QUICK

SIM_SERIAL = "63000001"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load the integration from custom_components/."""


@pytest.fixture(autouse=True)
def allow_local_sockets(socket_enabled: None) -> None:
    """Let tests talk to real Modbus peers on 127.0.0.1 (and nowhere else)."""


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reconnect at once in tests; the backoff itself is tested on its own."""
    monkeypatch.setattr(link, "BACKOFF_MIN", 0.0)


@pytest.fixture
async def site() -> AsyncIterator[SimulatedSite]:
    """Serve the simulated site over Modbus TCP on a free local port."""
    async with SimulatedSite(host="127.0.0.1", port=0) as running:
        yield running


@pytest.fixture
def closed_port() -> int:
    """Return a local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture(autouse=True)
def no_pause_after_close(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip pyserial's 0.3 s pause after closing a socket:// port.

    It gives a real ser2net time before a quick reconnect; the local test
    peers need none, and the tests stay fast.
    """
    monkeypatch.setattr(
        "serial.urlhandler.protocol_socket.time", SimpleNamespace(sleep=lambda _: None)
    )


type StartPeer = Callable[[RequestEnd, Answer], Awaitable[SerialPeer]]


@pytest.fixture
async def serial_peers() -> AsyncIterator[StartPeer]:
    """Start scripted serial devices behind sockets; stop them after the test.

    ``start(request_end, answer)`` returns a running peer whose ``url`` a
    SerialLink opens as ``socket://``.
    """
    peers: list[SerialPeer] = []

    async def start(request_end: RequestEnd, answer: Answer) -> SerialPeer:
        running = SerialPeer(request_end, answer)
        await running.start()
        peers.append(running)
        return running

    yield start
    for running in peers:
        await running.stop()


@pytest.fixture(
    params=[
        pytest.param(QUICK, id="quick"),
        pytest.param(LONG, id="long", marks=pytest.mark.slow),
    ]
)
def examples(request: pytest.FixtureRequest) -> int:
    """Return how many examples a fuzz test tries: few by default, many when slow."""
    value: int = request.param
    return value
