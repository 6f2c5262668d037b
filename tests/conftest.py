"""Shared fixtures: Home Assistant's test harness and the simulated site."""

from collections.abc import AsyncIterator
import socket

import pytest

from custom_components.energy_orchestrator.drivers.transport import link
from custom_components.energy_orchestrator.sim.servers import SimulatedSite

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
