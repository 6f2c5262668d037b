"""Home Assistant reading the simulated grid meter through a fault proxy."""

from collections.abc import AsyncIterator, Iterator
from functools import partial
from typing import Any
from unittest.mock import PropertyMock, patch

from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity import Entity
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_orchestrator.const import (
    CONF_CONNECTION,
    CONF_KIND,
    DOMAIN,
)
from custom_components.energy_orchestrator.device import links
from custom_components.energy_orchestrator.lib.drivers.transport.modbus import (
    ModbusLink,
)
from eo_lab.faults.proxy import FaultProxy
from eo_lab.sim.simulated_site import SimulatedSite
from tests.conftest import SIM_SERIAL

# A request unanswered for this long is a silent device: short, so a
# scenario takes a second, not the 3 s a real poll waits.
LINK_TIMEOUT_S = 0.4
IMPOSTOR_SERIAL = 11111111


@pytest.fixture(autouse=True)
def short_link_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give the entries' links a short timeout."""
    monkeypatch.setattr(
        links, "ModbusLink", partial(ModbusLink, timeout=LINK_TIMEOUT_S)
    )


@pytest.fixture
def every_sensor_enabled() -> Iterator[None]:
    """Enable the sensors a user would have to enable: every one is checked."""
    with patch.object(
        Entity, "entity_registry_enabled_default", new_callable=PropertyMock
    ) as enabled:
        enabled.return_value = True
        yield


@pytest.fixture
async def proxy(site: SimulatedSite) -> AsyncIterator[FaultProxy]:
    """Put a fault proxy in front of the simulated site."""
    async with FaultProxy(site.port) as running:
        yield running


@pytest.fixture
async def impostor() -> AsyncIterator[SimulatedSite]:
    """Serve another meter: another serial number, other values, a higher count."""
    async with SimulatedSite(
        port=0, grid_meter_serial=IMPOSTOR_SERIAL, start_time=1_750_000_000.0
    ) as other:
        other.site.grid_import_energy_wh = 9_000_000.0
        yield other


@pytest.fixture
async def entry(
    hass: HomeAssistant, proxy: FaultProxy, every_sensor_enabled: None
) -> AsyncIterator[MockConfigEntry]:
    """Add the grid meter to Home Assistant through the proxy, every sensor enabled."""
    data: dict[str, Any] = {
        CONF_KIND: "device",
        CONF_CONNECTION: "tcp",
        "family": "sdm630",
        CONF_HOST: "127.0.0.1",
        CONF_PORT: proxy.port,
        "unit_id": 1,
        "framing": "tcp",
    }
    added = MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        unique_id=SIM_SERIAL,
        data=data,
        title="Eastron SDM630",
    )
    added.add_to_hass(hass)
    assert await hass.config_entries.async_setup(added.entry_id)
    await hass.async_block_till_done()
    yield added
    await hass.config_entries.async_unload(added.entry_id)
    await hass.async_block_till_done()
