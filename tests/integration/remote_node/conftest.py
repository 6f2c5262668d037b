"""A real broker, a real ``eo node``, and Home Assistant's MQTT integration on it.

The broker and the node come from tests/node/conftest.py (Mosquitto with
the shipped ACL and passwords; ``eo node`` as a subprocess). Home Assistant
connects with its MQTT integration as the ACL's ``homeassistant`` user, as a
user's would: nothing of MQTT is mocked.
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
import time
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_orchestrator.const import (
    CONF_KIND,
    CONF_NODE,
    CONF_PREFIX,
    DOMAIN,
    KIND_REMOTE_NODE,
)
from eo_lab.sim.devices.sunspec import SunSpecInverterEmulator
from eo_lab.sim.servers import DeviceServer, serve_devices
from eo_lab.sim.simulated_site import SimulatedSite
from tests.node.conftest import (
    PREFIX,
    USERS,
    Broker,
    start_broker,
    write_config,
)

# The node's fail-safe timeout and poll interval in these tests (s).
TIMEOUT_S = 3.0
INTERVAL_S = 0.5


@pytest.fixture
async def broker(tmp_path: Path) -> AsyncIterator[Broker]:
    """Run Mosquitto with the node tests' users and the shipped ACL.

    Started in an executor: Home Assistant's tests refuse blocking calls in
    the loop.
    """
    running = await asyncio.to_thread(start_broker, tmp_path / "broker")
    yield running
    await asyncio.to_thread(running.stop)


@pytest.fixture
async def inverter(
    site: SimulatedSite,
) -> AsyncIterator[tuple[SunSpecInverterEmulator, DeviceServer]]:
    """Serve a SunSpec hybrid inverter at unit 1, following the simulated site."""
    emulator = SunSpecInverterEmulator(site.site, sync=site.sync)
    async with serve_devices("127.0.0.1", 0, {1: emulator.sim_device(1)}) as server:
        yield emulator, server


@pytest.fixture
async def node_config(
    tmp_path: Path,
    broker: Broker,
    site: SimulatedSite,
    inverter: tuple[SunSpecInverterEmulator, DeviceServer],
) -> Path:
    """Write the shed's config: the grid meter and the inverter, a short fail-safe."""
    return await asyncio.to_thread(
        write_config,
        tmp_path,
        broker,
        {
            "node": "shed",
            "failsafe": {"heartbeat_timeout": TIMEOUT_S},
            "components": [
                {
                    "id": "meter1",
                    "family": "sdm630",
                    "url": site.url,
                    "unit": 1,
                    "interval": INTERVAL_S,
                },
                {
                    "id": "inv1",
                    "family": "sunspec",
                    "url": inverter[1].url,
                    "unit": 1,
                    "interval": INTERVAL_S,
                },
            ],
        },
    )


@pytest.fixture
async def ha_mqtt(
    broker: Broker, hass: HomeAssistant, mock_hass_config: None
) -> AsyncIterator[MockConfigEntry]:
    """Set up Home Assistant's MQTT integration on the broker, as its ACL user.

    ``mock_hass_config``: the integration reads configuration.yaml, which
    the test harness does not have. Unloaded before the broker stops.
    """
    entry = await async_setup_mqtt(hass, broker)
    yield entry
    await hass.config_entries.async_unload(entry.entry_id)


async def async_setup_mqtt(hass: HomeAssistant, broker: Broker) -> MockConfigEntry:
    """Set up Home Assistant's MQTT integration on the broker, as its ACL user."""
    entry = MockConfigEntry(
        domain="mqtt",
        version=1,
        minor_version=2,
        data={
            "broker": "127.0.0.1",
            "port": broker.port,
            "username": "homeassistant",
            "password": USERS["homeassistant"],
            "discovery": True,
        },
        # No birth message: the node needs Home Assistant's will only, and
        # the birth sent on a reconnect races a restarting broker (a task
        # error that fails the test harness, not the node or the entry).
        options={"birth_message": {}},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    return entry


def remote_node_entry(node: str = "shed") -> MockConfigEntry:
    """Return the entry of a remote node, as the flow makes it."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=node,
        unique_id=f"{PREFIX}/{node}",
        data={CONF_KIND: KIND_REMOTE_NODE, CONF_PREFIX: PREFIX, CONF_NODE: node},
        version=1,
        minor_version=2,
    )


async def wait_until(
    hass: HomeAssistant,
    predicate: Callable[[], Any],
    within: float = 15.0,
    what: str = "the condition",
) -> Any:
    """Let Home Assistant run until ``predicate()`` is truthy; return it."""
    deadline = time.monotonic() + within
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await hass.async_block_till_done()
        await asyncio.sleep(0.05)
    return result
