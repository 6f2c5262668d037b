"""Setting up a device entry: entities, availability, identity, restored totals."""

from collections.abc import Collection
from datetime import timedelta
import logging
import time
from typing import Any

from homeassistant.components.repairs import repairs_flow_manager
from homeassistant.components.sensor import SensorStateClass
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    CONF_HOST,
    CONF_PORT,
    STATE_UNAVAILABLE,
)
from homeassistant.core import HomeAssistant, State
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    mock_restore_cache_with_extra_data,
)

from custom_components.energy_orchestrator.const import (
    CONF_CONNECTION,
    CONF_KIND,
    DOMAIN,
)
from custom_components.energy_orchestrator.diagnostics import (
    async_get_config_entry_diagnostics,
)
from custom_components.energy_orchestrator.lib.drivers.base import Poll
from custom_components.energy_orchestrator.lib.drivers.cadence import Cadence
from custom_components.energy_orchestrator.lib.drivers.eastron import SDM630_POINTS
from custom_components.energy_orchestrator.lib.drivers.errors import DeviceSilentError
from custom_components.energy_orchestrator.lib.drivers.values import (
    Identity,
    Reading,
    Unit,
)
from eo_lab.sim.devices.eastron import SDM630Emulator
from eo_lab.sim.servers import serve_devices
from eo_lab.sim.simulated_site import SimulatedSite
from tests.conftest import SIM_SERIAL

GRID_POWER = "sensor.eastron_sdm630_grid_power"
IMPORT_ENERGY = "sensor.eastron_sdm630_grid_import_energy"


def _entry(port: int, unique_id: str = SIM_SERIAL) -> MockConfigEntry:
    data: dict[str, Any] = {
        CONF_KIND: "device",
        CONF_CONNECTION: "tcp",
        "family": "sdm630",
        CONF_HOST: "127.0.0.1",
        CONF_PORT: port,
        "unit_id": 1,
        "framing": "tcp",
    }
    return MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        unique_id=unique_id,
        data=data,
        title="Eastron SDM630",
    )


async def _setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def test_entities_show_the_meter(
    hass: HomeAssistant,
    site: SimulatedSite,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    entry = _entry(site.port)
    await _setup(hass, entry)
    assert entry.state is ConfigEntryState.LOADED

    device = device_registry.async_get_device_by_identifier(
        (DOMAIN, SIM_SERIAL), entry.entry_id
    )
    assert device is not None
    assert (device.manufacturer, device.model, device.serial_number) == (
        "Eastron",
        "SDM630",
        SIM_SERIAL,
    )

    truth = site.site.grid_meter_values()
    power = hass.states.get(GRID_POWER)
    assert power is not None
    assert power.attributes["unit_of_measurement"] == "W"
    assert power.attributes["device_class"] == "power"
    assert float(power.state) == pytest.approx(truth["grid_power"], rel=0.05, abs=20)

    energy = hass.states.get(IMPORT_ENERGY)
    assert energy is not None
    # Statistics the Energy dashboard accepts: energy, total_increasing, kWh.
    assert energy.attributes["device_class"] == "energy"
    assert energy.attributes["state_class"] == SensorStateClass.TOTAL_INCREASING
    assert energy.attributes["unit_of_measurement"] == "kWh"
    assert float(energy.state) == pytest.approx(
        truth["grid_import_energy"] / 1000, rel=1e-3
    )

    # Extras exist but start disabled; phase values are there and enabled.
    neutral = entity_registry.async_get("sensor.eastron_sdm630_neutral_current")
    assert neutral is not None
    assert neutral.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert hass.states.get("sensor.eastron_sdm630_voltage_l2") is not None
    entities = er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    assert all(e.unique_id.startswith(f"{SIM_SERIAL}_") for e in entities)
    assert len(entities) == 29

    await hass.config_entries.async_unload(entry.entry_id)
    assert entry.state is ConfigEntryState.NOT_LOADED


async def _next_polls(
    hass: HomeAssistant, entry: MockConfigEntry, polls: int = 1
) -> None:
    """Run the coordinator's scheduled poll ``polls`` times.

    The poll is called directly rather than by moving a mocked clock: pymodbus
    sleeps and times out on the event loop while connecting, and firing
    mocked time would cut those short.
    """
    for _ in range(polls):
        await entry.runtime_data.coordinator.async_refresh()
        await hass.async_block_till_done()


async def test_silent_meter_goes_unavailable_once_and_comes_back(
    hass: HomeAssistant,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with SimulatedSite(host="127.0.0.1", port=0) as site:
        port = site.port
        entry = _entry(port)
        await _setup(hass, entry)
        assert hass.states.get(GRID_POWER).state != STATE_UNAVAILABLE  # type: ignore[union-attr]

    caplog.clear()
    await _next_polls(hass, entry, 3)
    assert hass.states.get(GRID_POWER).state == STATE_UNAVAILABLE  # type: ignore[union-attr]
    # This integration's own; tmodbus logs the lost connection itself.
    failures = [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("custom_components")
    ]
    assert len(failures) == 1, failures
    assert (
        "did not answer" in failures[0].getMessage()
        or "connect" in failures[0].getMessage()
    )

    async with SimulatedSite(host="127.0.0.1", port=port):
        caplog.clear()
        await _next_polls(hass, entry)
        assert hass.states.get(GRID_POWER).state != STATE_UNAVAILABLE  # type: ignore[union-attr]
        recovered = [r for r in caplog.records if "recovered" in r.getMessage()]
        assert len(recovered) == 1
        await hass.config_entries.async_unload(entry.entry_id)


async def test_another_meter_after_a_reconnect_is_not_shown(
    hass: HomeAssistant,
) -> None:
    """A meter swapped while the gateway was away: its values are never shown."""
    async with SimulatedSite(host="127.0.0.1", port=0) as site:
        port = site.port
        entry = _entry(port)
        await _setup(hass, entry)
        shown = hass.states.get(GRID_POWER).state  # type: ignore[union-attr]
    async with SimulatedSite(host="127.0.0.1", port=port, grid_meter_serial=11111111):
        await _next_polls(hass, entry)
        coordinator = entry.runtime_data.coordinator
        assert not coordinator.last_update_success
        assert "serial number 11111111, expected 63000001" in str(
            coordinator.last_exception
        )
        assert hass.states.get(GRID_POWER).state == STATE_UNAVAILABLE  # type: ignore[union-attr]
        assert shown != STATE_UNAVAILABLE
    await hass.config_entries.async_unload(entry.entry_id)


async def test_unreachable_meter_retries_setup(
    hass: HomeAssistant, closed_port: int
) -> None:
    entry = _entry(closed_port)
    await _setup(hass, entry)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert "cannot connect" in str(entry.reason)


async def test_another_meter_at_the_address_stops_the_entry(
    hass: HomeAssistant, site: SimulatedSite
) -> None:
    entry = _entry(site.port, unique_id="11111111")
    await _setup(hass, entry)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.reason is not None
    assert "serial number 63000001, expected 11111111" in entry.reason
    assert hass.states.get(GRID_POWER) is None


async def test_energy_total_never_goes_backwards(
    hass: HomeAssistant, site: SimulatedSite
) -> None:
    """A count restored from before the restart wins over a lower one.

    The meter's real count is far lower than what was stored (a meter that
    answered 0 or a half-written register); the sensor keeps the higher,
    restored count instead of showing a meter reset to the statistics.
    """
    restored = 987_654_321.0  # Wh
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(IMPORT_ENERGY, "987654.321"),
                {"native_value": restored, "native_unit_of_measurement": "Wh"},
            )
        ],
    )
    entry = _entry(site.port)
    await _setup(hass, entry)
    assert float(hass.states.get(IMPORT_ENERGY).state) == pytest.approx(987654.321)  # type: ignore[union-attr]

    await _next_polls(hass, entry, 2)
    assert float(hass.states.get(IMPORT_ENERGY).state) == pytest.approx(987654.321)  # type: ignore[union-attr]
    await hass.config_entries.async_unload(entry.entry_id)


async def test_energy_total_follows_a_rising_meter(
    hass: HomeAssistant, site: SimulatedSite
) -> None:
    """A count far higher than the one a week ago is within what a week allows."""
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State(
                    IMPORT_ENERGY,
                    "0.001",
                    last_updated=dt_util.utcnow() - timedelta(days=7),
                ),
                {"native_value": 1.0, "native_unit_of_measurement": "Wh"},
            )
        ],
    )
    entry = _entry(site.port)
    await _setup(hass, entry)
    truth = site.site.grid_meter_values()["grid_import_energy"] / 1000
    assert float(hass.states.get(IMPORT_ENERGY).state) == pytest.approx(truth, rel=1e-3)  # type: ignore[union-attr]
    await hass.config_entries.async_unload(entry.entry_id)


async def test_diagnostics(hass: HomeAssistant, site: SimulatedSite) -> None:
    entry = _entry(site.port)
    await _setup(hass, entry)
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["entry"]["unique_id"] == "**REDACTED**"
    assert diagnostics["identity"]["serial_number"] == "**REDACTED**"
    # Where the device is reached may name a machine outside the house.
    assert diagnostics["entry"]["data"]["host"] == "**REDACTED**"
    assert diagnostics["driver"]["family"] == "sdm630"
    assert diagnostics["driver"]["read_plan"][0] == {
        "table": "input",
        "address": 0,
        "count": 76,
    }
    assert diagnostics["driver"]["link_stats"]["requests"] >= 4
    assert diagnostics["readings"]["grid_power"]["unit"] == "W"
    await hass.config_entries.async_unload(entry.entry_id)


async def test_one_lost_poll_is_retried_at_once_a_silent_device_is_not(
    hass: HomeAssistant, site: SimulatedSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lost frame costs nothing visible; a dead device does not double polls."""
    entry = _entry(site.port)
    await _setup(hass, entry)
    coordinator = entry.runtime_data.coordinator
    poll = coordinator.driver.async_poll
    calls: list[bool] = []
    answering = [False, True]

    async def flaky_poll(due: Collection[Cadence]) -> Poll:
        calls.append(True)
        if not (answering.pop(0) if answering else False):
            raise DeviceSilentError("unit 1 did not answer")
        return await poll(due)

    monkeypatch.setattr(coordinator.driver, "async_poll", flaky_poll)
    await coordinator.async_refresh()
    assert coordinator.last_update_success
    assert len(calls) == 2
    assert hass.states.get(GRID_POWER).state != STATE_UNAVAILABLE  # type: ignore[union-attr]

    # From here on the device stays silent: one failure, then one request a
    # poll, not two.
    await coordinator.async_refresh()
    assert not coordinator.last_update_success
    assert len(calls) == 4
    await coordinator.async_refresh()
    assert len(calls) == 5
    assert hass.states.get(GRID_POWER).state == STATE_UNAVAILABLE  # type: ignore[union-attr]
    await hass.config_entries.async_unload(entry.entry_id)


def _energy_poll(
    monkeypatch: pytest.MonkeyPatch,
    entry: MockConfigEntry,
    counts: list[tuple[float, float]],
) -> None:
    """Make the meter answer these (seconds, Wh) import counts, one a poll."""
    coordinator = entry.runtime_data.coordinator
    poll = coordinator.driver.async_poll

    async def counted_poll(due: Collection[Cadence]) -> Poll:
        answer = await poll(due)
        at, count = counts.pop(0)
        answer.readings["grid_import_energy"] = Reading(
            "grid_import_energy", count, Unit.WATT_HOUR, at
        )
        return answer

    monkeypatch.setattr(coordinator.driver, "async_poll", counted_poll)


async def test_an_energy_spike_is_never_shown(
    hass: HomeAssistant, site: SimulatedSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One read of 50,000 kWh between two of 4,321 kWh: the total never shows it."""
    entry = _entry(site.port)
    await _setup(hass, entry)
    now = time.time()
    counts = [
        (now + 5, 4_321_000.0),
        (now + 10, 50_000_000_000.0),
        (now + 15, 4_321_010.0),
    ]
    _energy_poll(monkeypatch, entry, counts)
    shown = []
    for _ in range(3):
        await _next_polls(hass, entry)
        shown.append(float(hass.states.get(IMPORT_ENERGY).state))  # type: ignore[union-attr]
    assert shown == pytest.approx([4321.0, 4321.0, 4321.01])
    await hass.config_entries.async_unload(entry.entry_id)


async def test_a_replaced_meter_is_a_repair_the_user_confirms(
    hass: HomeAssistant,
    site: SimulatedSite,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A count far lower for ten minutes: an issue; confirmed, the new count shows."""
    entry = _entry(site.port)
    await _setup(hass, entry)
    now = time.time()
    counts = [(now + 5, 4_321_000.0)] + [
        (now + 10 + i * 60, 1_000.0 + i) for i in range(12)
    ]
    _energy_poll(monkeypatch, entry, counts)
    await _next_polls(hass, entry, 13)
    assert float(hass.states.get(IMPORT_ENERGY).state) == pytest.approx(4321.0)  # type: ignore[union-attr]
    issues = [
        issue
        for (domain, _), issue in ir.async_get(hass).issues.items()
        if domain == DOMAIN and issue.translation_key == "meter_replaced"
    ]
    assert len(issues) == 1

    assert await async_setup_component(hass, "repairs", {})
    manager = repairs_flow_manager(hass)
    assert manager is not None
    started = await manager.async_init(DOMAIN, context={"issue_id": issues[0].issue_id})
    assert started["step_id"] == "confirm"
    assert started["description_placeholders"]["shown"] == "4321.000"
    done = await manager.async_configure(started["flow_id"], {})
    assert done["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert float(hass.states.get(IMPORT_ENERGY).state) == pytest.approx(1.011)  # type: ignore[union-attr]
    await hass.config_entries.async_unload(entry.entry_id)


async def test_another_meter_without_a_reconnect_is_never_shown(
    hass: HomeAssistant,
) -> None:
    """A gateway re-mapped to another meter on the same connection: not shown."""
    values = {p.key: 230.0 for p in SDM630_POINTS} | {"frequency": 50.0}
    ours = SDM630Emulator(int(SIM_SERIAL), lambda: values | {"grid_power": 100.0})
    other = SDM630Emulator(11111111, lambda: values | {"grid_power": 999.0})
    devices = {1: ours.device, 2: other.device}
    async with serve_devices("127.0.0.1", 0, devices) as server:
        entry = _entry(server.port)
        await _setup(hass, entry)
        assert float(hass.states.get(GRID_POWER).state) == 100.0  # type: ignore[union-attr]
        coordinator = entry.runtime_data.coordinator
        connects = coordinator.driver.connects
        # The re-mapped gateway: another unit on the same connection.
        coordinator.driver.unit = 2  # type: ignore[attr-defined]  # an SDM630 has one
        await _next_polls(hass, entry)
        assert coordinator.driver.connects == connects
        assert hass.states.get(GRID_POWER).state == STATE_UNAVAILABLE  # type: ignore[union-attr]
        assert "serial number 11111111" in str(coordinator.last_exception)
        await hass.config_entries.async_unload(entry.entry_id)


async def test_a_failed_poll_puts_the_identity_in_doubt(
    hass: HomeAssistant, site: SimulatedSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a poll that failed, who answers is checked before the next values."""
    entry = _entry(site.port)
    await _setup(hass, entry)
    coordinator = entry.runtime_data.coordinator
    identify = coordinator.driver.async_identify
    checks: list[bool] = []

    async def counted_identify() -> Identity:
        checks.append(True)
        return await identify()

    monkeypatch.setattr(coordinator.driver, "async_identify", counted_identify)
    await _next_polls(hass, entry)
    assert checks == []
    poll = coordinator.driver.async_poll
    failing = [True, True]

    async def flaky_poll(due: Collection[Cadence]) -> Poll:
        if failing and failing.pop():
            raise DeviceSilentError("unit 1 did not answer")
        return await poll(due)

    monkeypatch.setattr(coordinator.driver, "async_poll", flaky_poll)
    await _next_polls(hass, entry, 2)
    assert coordinator.last_update_success
    assert len(checks) >= 1
    await hass.config_entries.async_unload(entry.entry_id)
