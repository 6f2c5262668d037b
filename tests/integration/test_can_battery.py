"""A battery on a CAN bus, added in Home Assistant over a simulated slcan adapter.

The simulated battery is served as an slcan adapter on a local TCP socket,
the way a CANable behind ser2net is reached (``socket://host:port``), so
the entry opens it with python-can's own ``slcan`` interface.
"""

from collections.abc import AsyncIterator
import time
from typing import Any

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigEntry,
    ConfigEntryState,
)
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.energy_orchestrator.const import DOMAIN, SCAN_INTERVAL
from custom_components.energy_orchestrator.lib.drivers.bms import pylontech_can
from custom_components.energy_orchestrator.lib.drivers.bms.pylontech_can import (
    frame_values,
)
from custom_components.energy_orchestrator.lib.drivers.bms.pylontech_can_protocol import (
    FrameId,
)
from custom_components.energy_orchestrator.lib.drivers.values import make_reading
from eo_lab.sim.devices.bms.pylontech_can import PylontechCanEmulator
from eo_lab.sim.simulated_site import SimulatedSite

from .flows import add_device, open_connection_form
from .texts import errors_shown

# Sensors by the canonical key they show.
ENTITIES = {
    "battery_soc": "sensor.pylontech_can_battery_battery_state_of_charge",
    "battery_soh": "sensor.pylontech_can_battery_battery_state_of_health",
    "battery_voltage": "sensor.pylontech_can_battery_battery_voltage",
    "battery_current": "sensor.pylontech_can_battery_battery_current",
    "battery_power": "sensor.pylontech_can_battery_battery_power",
    "battery_temperature": "sensor.pylontech_can_battery_battery_temperature",
    "battery_charge_current_limit": "sensor.pylontech_can_battery_charge_current_limit",
    "battery_discharge_current_limit": (
        "sensor.pylontech_can_battery_discharge_current_limit"
    ),
    "battery_alarm": "sensor.pylontech_can_battery_battery_alarm",
    "battery_permission": "sensor.pylontech_can_battery_battery_charge_and_discharge",
    "battery_charge_request": "sensor.pylontech_can_battery_battery_charge_request",
}


@pytest.fixture
async def pinned_site() -> AsyncIterator[SimulatedSite]:
    """Serve a simulated site whose clock stands still, so frames do not change."""
    start = time.time()
    async with SimulatedSite(
        host="127.0.0.1", port=0, clock=lambda: start, start_time=start
    ) as sim:
        yield sim


@pytest.fixture
async def battery(pinned_site: SimulatedSite) -> AsyncIterator[PylontechCanEmulator]:
    """Serve the simulated battery as an slcan adapter behind "ser2net"."""
    emulator = PylontechCanEmulator(pinned_site.site, sync=pinned_site.sync, period=0.2)
    async with emulator:
        yield emulator


def _form(channel: str, *, keepalive: bool = False) -> dict[str, Any]:
    """Return what a user types for an slcan adapter behind ser2net."""
    return {
        "interface": "slcan",
        "channel": channel,
        "bitrate": 500000,
        "more_options": {"keepalive": keepalive},
    }


async def _add(hass: HomeAssistant, channel: str, **options: bool) -> ConfigEntry[Any]:
    """Add the battery through the config flow; return its loaded entry."""
    result = await add_device(hass, "can", "pylontech_can", _form(channel, **options))
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    entry: ConfigEntry[Any] = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    return entry


def _expected(emulator: PylontechCanEmulator) -> dict[str, str]:
    """Return each entity's state as the battery's frames say, decoded apart."""
    values: dict[str, float | str | None] = {}
    for frame_id, data in emulator.frames():
        values |= frame_values(FrameId(frame_id), data)
    expected = {}
    for key, value in values.items():
        if key in ENTITIES and value is not None:
            reading = make_reading(key, value, 0)
            assert reading is not None, key
            expected[key] = str(reading.value)
    return expected


def _states(hass: HomeAssistant) -> dict[str, str]:
    """Return the state of each sensor, by key."""
    states = {}
    for key, entity_id in ENTITIES.items():
        state = hass.states.get(entity_id)
        assert state is not None, entity_id
        states[key] = state.state
    return states


def _numbers(states: dict[str, str]) -> dict[str, float | str]:
    """Return states as numbers where they are numbers, to compare values."""
    out: dict[str, float | str] = {}
    for key, state in states.items():
        try:
            out[key] = round(float(state), 2)
        except ValueError:
            out[key] = state
    return out


async def _refresh(hass: HomeAssistant) -> None:
    """Let the coordinator poll, as its interval passing does."""
    async_fire_time_changed(hass, dt_util.utcnow() + SCAN_INTERVAL)
    await hass.async_block_till_done()


async def _soc_becomes(
    hass: HomeAssistant, unavailable: bool, *, within: float
) -> float:
    """Wait until the SOC sensor is (un)available; return how long that took.

    A poll runs in the background: one that finds the bus silent checks who
    is on it before it gives up, listening for the probe time.
    """
    start = time.monotonic()
    while (_states(hass)["battery_soc"] == STATE_UNAVAILABLE) is not unavailable:
        assert time.monotonic() - start < within
        await hass.async_add_executor_job(time.sleep, 0.1)
        await hass.async_block_till_done()
    return time.monotonic() - start


async def test_the_entities_show_the_frames_sent(
    hass: HomeAssistant, battery: PylontechCanEmulator
) -> None:
    entry = await _add(hass, battery.url)
    assert entry.title == "Pylontech CAN battery"
    assert entry.data["channel"] == battery.url
    assert _numbers(_states(hass)) == _numbers(_expected(battery))
    # The alarms and requests the frames say, through the entities.
    battery.protections = frozenset({"cell_overvoltage"})
    battery.requests = frozenset({"charge_enable", "force_charge_1"})
    await hass.async_add_executor_job(time.sleep, 0.5)
    await _refresh(hass)
    states = _states(hass)
    assert states["battery_alarm"] == "protection"
    assert states["battery_permission"] == "charge_only"
    assert states["battery_charge_request"] == "force_charge"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_silent_bus_makes_the_values_unavailable_and_back(
    hass: HomeAssistant,
    battery: PylontechCanEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The timeout is shortened here; the slow test below waits the real 10 s."""
    monkeypatch.setattr(pylontech_can, "SILENCE_TIMEOUT", 0.5)
    entry = await _add(hass, battery.url)
    battery.silent = True
    await hass.async_add_executor_job(time.sleep, 0.8)
    await _refresh(hass)
    await _soc_becomes(hass, True, within=3)
    assert set(_states(hass).values()) == {STATE_UNAVAILABLE}
    battery.silent = False
    await hass.async_add_executor_job(time.sleep, 0.5)
    await _refresh(hass)
    await _soc_becomes(hass, False, within=2)
    assert _numbers(_states(hass)) == _numbers(_expected(battery))
    assert await hass.config_entries.async_unload(entry.entry_id)


@pytest.mark.slow
async def test_the_values_go_within_eighteen_seconds_of_silence(
    hass: HomeAssistant, battery: PylontechCanEmulator
) -> None:
    """10 s without a frame, at most one poll interval (5 s), two frame periods."""
    entry = await _add(hass, battery.url)
    battery.silent = True
    # The coordinator polls every 5 s; a poll that finds the bus silent checks
    # who is on it, listening for the probe time, before the values go.
    gone_after = await _soc_becomes(
        hass,
        True,
        within=pylontech_can.SILENCE_TIMEOUT + 5 + pylontech_can.PROBE_TIME + 1,
    )
    assert gone_after >= pylontech_can.SILENCE_TIMEOUT - 1
    battery.silent = False
    await _soc_becomes(hass, False, within=5 + 1)
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_the_keepalive_wakes_a_battery_that_waits_for_one(
    hass: HomeAssistant, battery: PylontechCanEmulator
) -> None:
    battery.waits_for_keepalive = True
    entry = await _add(hass, battery.url, keepalive=True)
    assert battery.keepalives >= 1
    assert entry.data["keepalive"] is True
    assert _states(hass)["battery_alarm"] == "none"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_a_quiet_bus_is_told_in_the_form(
    hass: HomeAssistant, battery: PylontechCanEmulator
) -> None:
    battery.waits_for_keepalive = True
    result = await add_device(hass, "can", "pylontech_can", _form(battery.url))
    assert result["errors"] == {"base": "no_can_frames"}
    shown = errors_shown(result)["base"]
    assert shown.startswith("The CAN adapter opened, but no battery frames came: ")
    assert "no CAN frames on slcan:socket://" in shown
    assert "keep-alive (More options)" in shown


async def test_a_wrong_channel_is_told_in_the_form(
    hass: HomeAssistant, closed_port: int
) -> None:
    result = await add_device(
        hass, "can", "pylontech_can", _form(f"socket://127.0.0.1:{closed_port}")
    )
    assert result["errors"] == {"base": "can_unusable"}
    shown = errors_shown(result)["base"]
    assert shown.startswith("Could not open the CAN adapter: cannot connect to")
    assert shown.endswith("Check the interface and the channel.")


async def test_the_same_bus_is_added_once(
    hass: HomeAssistant, battery: PylontechCanEmulator
) -> None:
    entry = await _add(hass, battery.url)
    result = await add_device(hass, "can", "pylontech_can", _form(battery.url))
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_the_form_offers_the_interfaces(hass: HomeAssistant) -> None:
    result = await open_connection_form(hass, "can", "pylontech_can")
    assert result["step_id"] == "can_connection"
    fields = {str(key): key for key in result["data_schema"].schema}
    assert set(fields) == {"interface", "channel", "bitrate", "more_options"}
    assert fields["interface"].default() == "socketcan"
    assert fields["bitrate"].default() == 500000


async def test_reconfigure_turns_the_keepalive_on(
    hass: HomeAssistant, battery: PylontechCanEmulator
) -> None:
    """The entry lets go of the adapter for the probe, then reloads with the change."""
    entry = await _add(hass, battery.url)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    assert result["step_id"] == "reconfigure"
    schema: dict[Any, Any] = result["data_schema"].schema
    fields = {str(key): key for key in schema}
    assert fields["channel"].description == {"suggested_value": battery.url}
    (keepalive,) = schema[fields["more_options"]].schema.schema
    assert keepalive.description == {"suggested_value": False}
    battery.waits_for_keepalive = True
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], _form(battery.url, keepalive=True)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.data["keepalive"] is True
    assert entry.state is ConfigEntryState.LOADED
    assert battery.keepalives >= 1
    assert _states(hass)["battery_alarm"] == "none"
    assert await hass.config_entries.async_unload(entry.entry_id)
