"""Home Assistant on the simulated site: its clock, its device entries, its steps.

The closed-loop tests serve the simulated site (``eo_lab.sim``) on loopback,
add its devices through the config flow as a user does, and move Home
Assistant's clock with the site's one step at a time.
"""

from collections.abc import Iterator
import contextlib
from dataclasses import dataclass
from datetime import datetime, timedelta
import functools
import time
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
import pytest

from custom_components.energy_orchestrator.const import DOMAIN
from eo_lab.sim.devices.wallbox import AlfenEmulator
from eo_lab.sim.simulated_site import SimulatedSite
from tests.integration.flows import add_device

METER_SERIAL = "63000001"
ALFEN_SERIAL = "ACE0123456"


class Clock:
    """The simulated site's clock, moved by hand with Home Assistant's."""

    def __init__(self, start: datetime) -> None:
        """Start the clock at ``start``."""
        self.now = start.timestamp()

    def __call__(self) -> float:
        """Return the site's time, in seconds since the epoch."""
        return self.now


@contextlib.contextmanager
def frozen_at(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
    start: datetime,
) -> Iterator[Clock]:
    """Stand Home Assistant's time still at ``start``; keep its event loop's real.

    The Modbus links need the loop's timers (pymodbus pauses after
    connecting), and the test harness runs the loop on ``time.monotonic``,
    which freezegun freezes; the OS clock read directly is not frozen.
    """
    monkeypatch.setattr(
        hass.loop, "time", functools.partial(time.clock_gettime, time.CLOCK_MONOTONIC)
    )
    freezer.move_to(start)
    yield Clock(start)


@dataclass
class SiteRun:
    """The running site, its wallbox if it has one, and its device entries."""

    sim: SimulatedSite
    clock: Clock
    freezer: FrozenDateTimeFactory
    hass: HomeAssistant
    devices: list[ConfigEntry[Any]]
    station: AlfenEmulator | None = None

    def entity(self, domain: str, serial: str, key: str) -> str:
        """Return the entity id of a device entry's entity by its key."""
        entity_id = er.async_get(self.hass).async_get_entity_id(
            domain, DOMAIN, f"{serial}_{key}"
        )
        assert entity_id is not None, key
        return entity_id

    def value(self, entity_id: str) -> float:
        """Return an entity's state as a number."""
        state = self.hass.states.get(entity_id)
        assert state is not None, entity_id
        return float(state.state)

    @property
    def grid_power(self) -> float:
        """Return the grid meter's power as Home Assistant shows it."""
        return self.value(self.entity("sensor", METER_SERIAL, "grid_power"))

    def car_currents(self) -> list[float]:
        """Return the current the car draws on each phase, as the Alfen reads it."""
        return [
            self.value(self.entity("sensor", ALFEN_SERIAL, f"ac_current_l{phase}"))
            for phase in (1, 2, 3)
        ]

    async def step(self, seconds: float, *controllers: ConfigEntry[Any]) -> None:
        """Move both clocks, poll the devices, then step the controllers."""
        self.clock.now += seconds
        self.freezer.tick(timedelta(seconds=seconds))
        for entry in (*self.devices, *controllers):
            await entry.runtime_data.coordinator.async_refresh()
        await self.hass.async_block_till_done()

    async def async_unload_devices(self) -> None:
        """Unload the device entries, as the end of a test does."""
        for entry in self.devices:
            assert await self.hass.config_entries.async_unload(entry.entry_id)


async def add_tcp_device(
    hass: HomeAssistant, url: str, family: str, unit: int = 1
) -> ConfigEntry[Any]:
    """Add a Modbus TCP device through the config flow, as a user does."""
    host, _, port = url.removeprefix("tcp://").rpartition(":")
    result = await add_device(
        hass,
        "tcp",
        family,
        {
            CONF_HOST: host,
            CONF_PORT: int(port),
            "more_options": {"unit_id": unit, "framing": "tcp"},
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    entry: ConfigEntry[Any] = result["result"]
    return entry
