"""SunSpec inverters in Home Assistant: sub-devices, their names, a command entity."""

from collections.abc import AsyncIterator

from homeassistant.components.number import (
    ATTR_VALUE,
    DOMAIN as NUMBER_DOMAIN,
    SERVICE_SET_VALUE,
)
from homeassistant.components.sensor import DOMAIN as SENSOR_DOMAIN
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    ATTR_ENTITY_ID,
    CONF_HOST,
    CONF_PORT,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_orchestrator.const import (
    CONF_CONNECTION,
    CONF_KIND,
    DOMAIN,
)
from eo_lab.sim.devices.sunspec import (
    DEFAULT_SERIAL,
    SunSpecInverterEmulator,
)
from eo_lab.sim.servers import serve_devices
from eo_lab.sim.simulated_site import SimulatedSite


@pytest.fixture
async def inverter_port(site: SimulatedSite) -> AsyncIterator[int]:
    """Serve a SunSpec hybrid inverter following the simulated site."""
    emulator = SunSpecInverterEmulator(site.site, sync=site.sync)
    async with serve_devices("127.0.0.1", 0, {1: emulator.sim_device(1)}) as server:
        yield server.port


def _entry(
    hass: HomeAssistant, port: int, unit: int = 1, serial: str = DEFAULT_SERIAL
) -> MockConfigEntry:
    """Return the entry of a SunSpec inverter at a unit, added to Home Assistant."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        unique_id=serial,
        title="SunSpec inverter",
        data={
            CONF_KIND: "device",
            CONF_CONNECTION: "tcp",
            "family": "sunspec",
            CONF_HOST: "127.0.0.1",
            CONF_PORT: port,
            "unit_id": unit,
            "framing": "tcp",
        },
    )
    entry.add_to_hass(hass)
    return entry


async def _load(hass: HomeAssistant, entry: MockConfigEntry) -> MockConfigEntry:
    """Set an entry up; return it loaded."""
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    return entry


async def _setup(
    hass: HomeAssistant, port: int, unit: int = 1, serial: str = DEFAULT_SERIAL
) -> MockConfigEntry:
    """Add and set up a SunSpec inverter at a unit."""
    return await _load(hass, _entry(hass, port, unit, serial))


async def test_mppts_are_sub_devices_of_the_inverter(
    hass: HomeAssistant,
    inverter_port: int,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    entry = await _setup(hass, inverter_port)
    inverter = device_registry.async_get_device_by_identifier(
        (DOMAIN, DEFAULT_SERIAL), entry.entry_id
    )
    assert inverter is not None
    devices = dr.async_entries_for_config_entry(device_registry, entry.entry_id)
    children = {d.name: d for d in devices if d.via_device_id == inverter.id}
    # Named within the inverter, as it names its trackers (model 160's IDStr).
    parent = "Energy Orchestrator Simulated hybrid inverter"
    assert inverter.name == parent
    assert set(children) == {f"{parent} PV1", f"{parent} PV2", f"{parent} Battery 1"}
    mppt1 = children[f"{parent} PV1"]
    assert (mppt1.manufacturer, mppt1.model) == ("Energy Orchestrator", "MPP tracker")
    # The battery has no common model of its own: its model is unknown, not
    # the SunSpec model's label ("Battery Base Model").
    assert children[f"{parent} Battery 1"].model is None

    power = entity_registry.async_get_entity_id(
        SENSOR_DOMAIN, DOMAIN, f"{DEFAULT_SERIAL}_mppt1/pv_power"
    )
    assert power is not None
    assert entity_registry.async_get(power).device_id == mppt1.id  # type: ignore[union-attr]
    # The tracker's name says it is PV: its power is "Power", not "PV power".
    state = hass.states.get(power)
    assert state is not None
    assert state.name == f"{parent} PV1 Power"
    current = hass.states.get(
        entity_registry.async_get_entity_id(  # type: ignore[arg-type]
            SENSOR_DOMAIN, DOMAIN, f"{DEFAULT_SERIAL}_battery1/battery_current"
        )
    )
    assert current is not None
    assert current.name == f"{parent} Battery 1 Current"
    await hass.config_entries.async_unload(entry.entry_id)


async def test_two_inverters_pv_inputs_have_entity_ids_of_their_own(
    hass: HomeAssistant, site: SimulatedSite, entity_registry: er.EntityRegistry
) -> None:
    """A second inverter's PV1 is not taken for the first one's."""
    fronius = SunSpecInverterEmulator(
        site.site, sync=site.sync, serial_number="INV-A", manufacturer="Fronius"
    )
    sma = SunSpecInverterEmulator(
        site.site, sync=site.sync, serial_number="INV-B", manufacturer="SMA"
    )
    devices = {1: fronius.sim_device(1), 2: sma.sim_device(2)}
    async with serve_devices("127.0.0.1", 0, devices) as server:
        first = await _setup(hass, server.port, 1, "INV-A")
        second = await _setup(hass, server.port, 2, "INV-B")
        entity_ids = {
            serial: entity_registry.async_get_entity_id(
                SENSOR_DOMAIN, DOMAIN, f"{serial}_mppt1/pv_power"
            )
            for serial in ("INV-A", "INV-B")
        }
        assert entity_ids == {
            "INV-A": "sensor.fronius_simulated_hybrid_inverter_pv1_power",
            "INV-B": "sensor.sma_simulated_hybrid_inverter_pv1_power",
        }
        for entry in (first, second):
            await hass.config_entries.async_unload(entry.entry_id)


async def test_entity_ids_registered_under_the_old_names_are_kept(
    hass: HomeAssistant, inverter_port: int, entity_registry: er.EntityRegistry
) -> None:
    """An entity registered before the parts carried their device's name keeps its id.

    Home Assistant keys the registry by unique id, which the names never
    touch: an existing installation's dashboards and automations go on.
    """
    entry = _entry(hass, inverter_port)
    entity_registry.async_get_or_create(
        SENSOR_DOMAIN,
        DOMAIN,
        f"{DEFAULT_SERIAL}_mppt1/pv_power",
        suggested_object_id="pv1_pv_power",
        config_entry=entry,
    )
    await _load(hass, entry)
    assert (
        entity_registry.async_get_entity_id(
            SENSOR_DOMAIN, DOMAIN, f"{DEFAULT_SERIAL}_mppt1/pv_power"
        )
        == "sensor.pv1_pv_power"
    )
    state = hass.states.get("sensor.pv1_pv_power")
    assert state is not None
    assert state.name == "Energy Orchestrator Simulated hybrid inverter PV1 Power"
    await hass.config_entries.async_unload(entry.entry_id)


async def test_cell_voltages_show_millivolts(
    hass: HomeAssistant, inverter_port: int, entity_registry: er.EntityRegistry
) -> None:
    """The spread between the highest and the lowest cell is a few millivolts."""
    entry = await _setup(hass, inverter_port)
    for key in ("cell_voltage_max", "cell_voltage_min"):
        entity_id = entity_registry.async_get_entity_id(
            SENSOR_DOMAIN, DOMAIN, f"{DEFAULT_SERIAL}_battery1/{key}"
        )
        assert entity_id is not None
        registered = entity_registry.async_get(entity_id)
        assert registered is not None
        assert registered.options["sensor"]["suggested_display_precision"] == 3
        state = hass.states.get(entity_id)
        assert state is not None
        # Read to the millivolt: no more decimals than that.
        assert len(state.state.partition(".")[2]) <= 3, state.state
    await hass.config_entries.async_unload(entry.entry_id)


async def test_active_power_limit_is_commanded_and_read_back(
    hass: HomeAssistant, inverter_port: int, entity_registry: er.EntityRegistry
) -> None:
    entry = await _setup(hass, inverter_port)
    limit = entity_registry.async_get_entity_id(
        NUMBER_DOMAIN, DOMAIN, f"{DEFAULT_SERIAL}_command_active_power_limit"
    )
    assert limit is not None
    state = hass.states.get(limit)
    assert state is not None
    assert state.attributes["min"] == 0
    assert state.attributes["max"] == 100

    await hass.services.async_call(
        NUMBER_DOMAIN,
        SERVICE_SET_VALUE,
        {ATTR_ENTITY_ID: limit, ATTR_VALUE: 40},
        blocking=True,
    )
    assert float(hass.states.get(limit).state) == pytest.approx(40)  # type: ignore[union-attr]

    # Nonsense never reaches the device: Home Assistant's own range check
    # refuses it before the command path sees it.
    with pytest.raises(ServiceValidationError):
        await hass.services.async_call(
            NUMBER_DOMAIN,
            SERVICE_SET_VALUE,
            {ATTR_ENTITY_ID: limit, ATTR_VALUE: 140},
            blocking=True,
        )
    assert float(hass.states.get(limit).state) == pytest.approx(40)  # type: ignore[union-attr]
    await hass.config_entries.async_unload(entry.entry_id)
