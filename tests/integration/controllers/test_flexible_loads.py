"""The flexible loads entry in Home Assistant: flow, stepping, actions, restart.

The loads are input_booleans (a water heater, a pool pump), the meter an
input_number in W, as a user's helpers would be; the controller switches
the helpers through their actions.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.input_boolean import DOMAIN as INPUT_BOOLEAN
from homeassistant.components.input_number import DOMAIN as INPUT_NUMBER
from homeassistant.config_entries import ConfigEntryState, ConfigSubentryData
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import Event, HomeAssistant, ServiceCall, SupportsResponse
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
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
    async_capture_events,
)

from custom_components.energy_orchestrator.const import (
    CONF_KIND,
    DOMAIN,
    EVENT_LOAD_SWITCHED,
)
from custom_components.energy_orchestrator.controller.site_limits import (
    SiteHeadroom,
    async_controllable_load_w,
    async_post_headroom,
    async_site_headroom,
)
from custom_components.energy_orchestrator.flexible_loads.coordinator import (
    FlexibleLoadsCoordinator,
)
from custom_components.energy_orchestrator.logbook import async_describe_events

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
METER = "input_number.grid_power"
HEATER = "input_boolean.water_heater"
PUMP = "input_boolean.pool_pump"
HEATER_STATE = "sensor.water_heater_state"
HEATER_ENERGY = "sensor.water_heater_energy_today"
PUMP_STATE = "sensor.pool_pump_state"
PERIOD_NET = "sensor.flexible_loads_net_this_period"
PROJECTED = "sensor.flexible_loads_net_at_period_end"
COST = "sensor.flexible_loads_cost_today"
CONTROL = "switch.flexible_loads_control_the_loads"

pytestmark = pytest.mark.freeze_time(NOW)


def _load(title: str, entity_id: str, **data: Any) -> ConfigSubentryData:
    """Return a load's subentry: 2 kW, 4 kWh a day, all day."""
    return ConfigSubentryData(
        subentry_type="load",
        title=title,
        unique_id=None,
        data={
            "load_entity": entity_id,
            "power_w": 2000.0,
            "energy_kwh_per_day": 4.0,
            "window_start": "00:00:00",
            "window_end": "00:00:00",
            "min_on_minutes": 0.0,
            "min_off_minutes": 0.0,
            "priority": 0.0,
            "interruptible": True,
        }
        | data,
    )


def _entry(**options: Any) -> MockConfigEntry:
    """Return a flexible loads entry with the heater and the pump as loads."""
    return MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        title="Flexible loads",
        entry_id="flexible_loads",
        data={CONF_KIND: "flexible_loads", "grid_power_entity": METER},
        options={
            "import_price": 0.2,
            "export_price": 0.05,
            "netting_minutes": "60",
            "safe_state": "off",
        }
        | options,
        subentries_data=[
            _load("Water heater", HEATER, priority=1.0),
            _load("Pool pump", PUMP, power_w=1000.0, energy_kwh_per_day=2.0),
        ],
    )


@pytest.fixture
async def helpers(hass: HomeAssistant) -> None:
    """Make the loads' switches and the meter."""
    assert await async_setup_component(
        hass, INPUT_BOOLEAN, {INPUT_BOOLEAN: {"water_heater": {}, "pool_pump": {}}}
    )
    assert await async_setup_component(
        hass,
        INPUT_NUMBER,
        {
            INPUT_NUMBER: {
                "grid_power": {
                    "min": -20000,
                    "max": 20000,
                    "step": 1,
                    "unit_of_measurement": "W",
                }
            }
        },
    )


async def _meter(hass: HomeAssistant, watts: float) -> None:
    """Set the grid meter (+ import)."""
    await hass.services.async_call(
        INPUT_NUMBER, "set_value", {"entity_id": METER, "value": watts}, blocking=True
    )


async def _setup(hass: HomeAssistant, entry: MockConfigEntry) -> MockConfigEntry:
    """Add the entry and take its first step."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def _post_peak_shaving(
    hass: HomeAssistant,
    *,
    grid_w: float,
    phase_w: float | None = None,
    connection_w: float | None = None,
) -> None:
    """Post the room a peak shaver leaves now, as peak shaving's step does."""
    async_post_headroom(
        hass,
        "peak_shaving",
        SiteHeadroom(
            at=dt_util.utcnow(),
            source="Peak shaving",
            grid_w=grid_w,
            phase_w=phase_w,
            connection_w=connection_w,
        ),
    )


def give_a_day(
    coordinator: FlexibleLoadsCoordinator, until: datetime, watts: float
) -> None:
    """Give the loads' forecast a day of the site at ``watts`` up to ``until``.

    As the recorder would at a start; the next step plans again on it.
    """
    for minute in range(0, 24 * 60, 5):
        coordinator.load_history.add(until - timedelta(minutes=minute), watts)
    coordinator.controller.plan = None


async def _boost_pump(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Boost the pool pump for half an hour."""
    await hass.services.async_call(
        DOMAIN,
        "boost_load",
        {"config_entry_id": entry.entry_id, "entity_id": PUMP, "duration": "00:30:00"},
        blocking=True,
    )


async def _step(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float = 5
) -> None:
    """Let time pass, and take the next step."""
    freezer.tick(timedelta(seconds=seconds))
    (entry,) = hass.config_entries.async_loaded_entries(DOMAIN)
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()


@pytest.mark.usefixtures("helpers")
async def test_surplus_switches_the_loads_on_by_priority(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """2.5 kW exported: the heater (2 kW, higher priority) goes on, the pump waits."""
    await _meter(hass, -2500)
    events = async_capture_events(hass, EVENT_LOAD_SWITCHED)
    await _setup(hass, _entry())
    assert hass.states.get(HEATER).state == "on"
    assert hass.states.get(PUMP).state == "off"
    assert hass.states.get(HEATER_STATE).state == "soaking_surplus"
    assert hass.states.get(PUMP_STATE).state == "waiting"
    assert hass.states.get(HEATER_STATE).attributes["power"] == 2000
    assert [(e.data["entity_id"], e.data["state"]) for e in events] == [(HEATER, "on")]
    assert hass.states.get(CONTROL).state == "on"
    # The heater's entities are on its own device, under the controller's.
    devices = dr.async_get(hass)
    heater = devices.async_get(er.async_get(hass).async_get(HEATER_STATE).device_id)
    assert heater.name == "Water heater"
    controller = devices.async_get(heater.via_device_id)
    assert controller.name == "Flexible loads"
    # The heater now draws its 2 kW: the meter shows 0.5 kW exported.
    await _meter(hass, -500)
    await _step(hass, freezer, 60)
    assert hass.states.get(HEATER).state == "on"
    energy = float(hass.states.get(HEATER_ENERGY).state)
    # A minute at 2 kW.
    assert energy == pytest.approx(2000 / 60, abs=2)
    # Posted as steered: peak shaving learns the house without it.
    assert async_controllable_load_w(hass, dt_util.utcnow()) == 2000
    assert hass.states.get(HEATER_ENERGY).attributes["need"] == 4000
    # The hour's net so far: exported.
    assert float(hass.states.get(PERIOD_NET).state) < 0
    assert float(hass.states.get(PROJECTED).state) < float(
        hass.states.get(PERIOD_NET).state
    )
    # Exported energy at 0.05 per kWh: the day so far earns.
    assert float(hass.states.get(COST).state) < 0
    # Importing 1.5 kW: the period would end importing; the heater goes off.
    await _meter(hass, 1500)
    await _step(hass, freezer)
    assert hass.states.get(HEATER).state == "off"
    assert hass.states.get(HEATER_STATE).state == "avoiding_import"
    assert events[-1].data["state"] == "off"
    assert events[-1].data["reason"] == "avoiding_import"


@pytest.mark.usefixtures("helpers")
async def test_logbook_says_which_load_switched_and_why(hass: HomeAssistant) -> None:
    described: dict[str, Any] = {}

    def describe(domain: str, event_type: str, fn: Any) -> None:
        described[event_type] = fn

    async_describe_events(hass, describe)
    message = described[EVENT_LOAD_SWITCHED](
        Event(
            EVENT_LOAD_SWITCHED,
            {
                "entity_id": HEATER,
                "name": "Water heater",
                "state": "on",
                "power": 2000,
                "reason": "soaking_surplus",
            },
        )
    )
    assert message == {
        "name": "Water heater",
        "entity_id": HEATER,
        "message": "switched on: soaking up surplus",
    }


@pytest.mark.usefixtures("helpers")
async def test_boost_and_need_actions(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """A boost runs the load while importing; a need replaces today's."""
    await _meter(hass, 500)
    entry = await _setup(hass, _entry())
    assert hass.states.get(PUMP).state == "off"
    await _boost_pump(hass, entry)
    assert hass.states.get(PUMP).state == "on"
    assert hass.states.get(PUMP_STATE).state == "boost"
    # Half an hour at 1 kW on top of a 2 kWh need not started: still 2 kWh.
    energy = hass.states.get("sensor.pool_pump_energy_today")
    assert energy.attributes["need"] == 2000
    await hass.services.async_call(
        DOMAIN,
        "set_load_need",
        {"config_entry_id": entry.entry_id, "entity_id": HEATER, "energy": 1.5},
        blocking=True,
    )
    assert hass.states.get(HEATER_ENERGY).attributes["need"] == 1500
    for data, key in (
        ({"entity_id": "input_boolean.kettle", "energy": 1}, "not_a_load"),
        ({"entity_id": HEATER, "energy": 100}, "load_need_too_large"),
    ):
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(
                DOMAIN,
                "set_load_need",
                {"config_entry_id": entry.entry_id} | data,
                blocking=True,
            )
        assert err.value.translation_key == key
    await hass.services.async_call(
        DOMAIN,
        "stop_flexible_loads",
        {"config_entry_id": entry.entry_id},
        blocking=True,
    )
    assert hass.states.get(PUMP).state == "off"
    assert hass.states.get(PUMP_STATE).state == "stopped"
    assert hass.states.get(CONTROL).state == "off"
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "boost_load",
            {"config_entry_id": entry.entry_id, "entity_id": PUMP, "duration": 600},
            blocking=True,
        )
    assert err.value.translation_key == "flexible_loads_stopped"
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": CONTROL}, blocking=True
    )
    assert hass.states.get(CONTROL).state == "on"
    assert hass.states.get(PUMP_STATE).state != "stopped"


@pytest.mark.usefixtures("helpers")
async def test_a_boost_ends_when_its_time_is_up(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Half an hour asked: the pump runs half an hour, not until its 2 kWh are met."""
    await _meter(hass, 500)
    entry = await _setup(hass, _entry())
    await _boost_pump(hass, entry)
    assert hass.states.get(PUMP_STATE).attributes["boost_until"] == (
        (NOW + timedelta(minutes=30)).isoformat()
    )
    for _ in range(29):
        await _step(hass, freezer, 60)
        # The meter reports every minute; it sees the pump's import.
        await _meter(hass, 1500)
    assert hass.states.get(PUMP).state == "on"
    await _step(hass, freezer, 60)
    await _meter(hass, 1500)
    await _step(hass, freezer, 60)
    assert hass.states.get(PUMP).state == "off"
    assert hass.states.get(PUMP_STATE).state != "boost"
    assert hass.states.get(PUMP_STATE).attributes["boost_until"] is None
    # Half an hour at 1 kW, the need still ahead.
    energy = hass.states.get("sensor.pool_pump_energy_today")
    assert float(energy.state) == pytest.approx(500, abs=20)
    assert energy.attributes["need"] == 2000


@pytest.mark.usefixtures("helpers")
async def test_a_load_outside_its_window_cannot_be_boosted(hass: HomeAssistant) -> None:
    """The tests' time zone is US/Pacific: 12:00 UTC is 05:00 there."""
    await _meter(hass, 0)
    entry = _entry()
    entry.subentries_data = ()
    entry = MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        title="Flexible loads",
        data=dict(entry.data),
        options=dict(entry.options),
        subentries_data=[
            _load(
                "Water heater", HEATER, window_start="08:00:00", window_end="12:00:00"
            )
        ],
    )
    await _setup(hass, entry)
    assert hass.states.get(HEATER_STATE).state == "outside_window"
    for service, data in (
        ("boost_load", {"duration": 600}),
        ("set_load_need", {"energy": 1}),
    ):
        with pytest.raises(ServiceValidationError) as err:
            await hass.services.async_call(
                DOMAIN,
                service,
                {"config_entry_id": entry.entry_id, "entity_id": HEATER} | data,
                blocking=True,
            )
        assert err.value.translation_key == "load_window_closed"


@pytest.mark.usefixtures("helpers")
async def test_needs_and_energy_today_survive_a_restart(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    await _meter(hass, -3000)
    entry = await _setup(hass, _entry())
    await hass.services.async_call(
        DOMAIN,
        "set_load_need",
        {"config_entry_id": entry.entry_id, "entity_id": HEATER, "energy": 3},
        blocking=True,
    )
    await _meter(hass, -1000)
    for _ in range(12):
        await _step(hass, freezer)
    before = float(hass.states.get(HEATER_ENERGY).state)
    assert before > 20
    # Home Assistant stops (the heater goes off) and starts again.
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert hass.states.get(HEATER).state == "off"
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.NOT_LOADED
    await _meter(hass, 0)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert float(hass.states.get(HEATER_ENERGY).state) == pytest.approx(before)
    assert hass.states.get(HEATER_ENERGY).attributes["need"] == 3000


@pytest.mark.usefixtures("helpers")
async def test_unload_leaves_the_loads_as_they_are_when_set_so(
    hass: HomeAssistant,
) -> None:
    await _meter(hass, -3000)
    entry = await _setup(hass, _entry(safe_state="leave"))
    assert hass.states.get(HEATER).state == "on"
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert hass.states.get(HEATER).state == "on"


@pytest.mark.usefixtures("helpers")
async def test_unload_switches_the_loads_off(hass: HomeAssistant) -> None:
    await _meter(hass, -3000)
    entry = await _setup(hass, _entry())
    assert hass.states.get(HEATER).state == "on"
    assert await hass.config_entries.async_unload(entry.entry_id)
    assert hass.states.get(HEATER).state == "off"
    assert async_controllable_load_w(hass, dt_util.utcnow()) == 0


ENTSOE = "sensor.average_electricity_price"


@pytest.mark.usefixtures("helpers")
async def test_prices_from_an_entsoe_sensor_and_when_they_cannot_be_read(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """The cost is priced from the sensor's forecast; unreadable, it is unknown."""
    prices = [
        {"time": (NOW + timedelta(hours=hour)).isoformat(), "price": 300.0}
        for hour in range(-12, 12)
    ]
    hass.states.async_set(
        ENTSOE,
        "120.0",
        {"unit_of_measurement": "EUR/MWh", "prices_today": prices, "prices": prices},
    )
    await _meter(hass, 2000)
    entry = await _setup(hass, _entry(import_price_entity=ENTSOE))
    await _step(hass, freezer, 60)
    # 2 kW for a minute at 0.30 per kWh.
    assert float(hass.states.get(COST).state) == pytest.approx(0.01, rel=0.01)
    assert hass.states.get(COST).attributes["price_problem"] is None
    hass.states.async_set(ENTSOE, "unavailable", {})
    await _step(hass, freezer)
    assert hass.states.get(COST).state == "unknown"
    assert (
        "carries no price forecast" in hass.states.get(COST).attributes["price_problem"]
    )
    issues = ir.async_get(hass).issues
    assert any(key[1].startswith(entry.entry_id) for key in issues)


async def test_flow_adds_the_entry_then_its_loads(hass: HomeAssistant) -> None:
    assert await async_setup_component(
        hass, INPUT_BOOLEAN, {INPUT_BOOLEAN: {"water_heater": {}}}
    )
    hass.states.async_set("sensor.grid", "0", {"unit_of_measurement": "W"})
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "user"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "flexible_loads"}
    )
    form = {
        "name": "Flexible loads",
        "import_price": 0.2,
        "export_price": 0.05,
        "netting_minutes": "60",
        "safe_state": "off",
    }
    refusals = [
        ({}, {"grid_power_entity": "meter_missing"}),
        (
            {
                "grid_power_entity": "sensor.grid",
                "grid_import_energy_entity": "sensor.i",
            },
            {"grid_power_entity": "meter_twice"},
        ),
        (
            {"grid_power_entity": "sensor.grid", "time_of_use": "07:00 zero"},
            {"time_of_use": "invalid_time_of_use"},
        ),
        (
            {
                "grid_power_entity": "sensor.grid",
                "time_of_use": "07:00 0.3",
                "import_price_entity": ENTSOE,
            },
            {"time_of_use": "price_twice"},
        ),
        (
            {
                "grid_power_entity": "sensor.grid",
                "pv_forecast_entity": "sensor.solcast",
            },
            {"pv_power_entity": "pv_forecast_without_pv"},
        ),
    ]
    hass.states.async_set(ENTSOE, "0.1", {"unit_of_measurement": "EUR/kWh"})
    refusals.append(
        (
            {"grid_power_entity": "sensor.grid", "import_price_entity": ENTSOE},
            {"import_price_entity": "price_entity_unreadable"},
        )
    )
    for fields, errors in refusals:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], form | fields
        )
        assert result["type"] is FlowResultType.FORM
        assert result["errors"] == errors, fields
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        form
        | {"grid_power_entity": "sensor.grid", "time_of_use": "00:00 0.1, 08:00 0.3"},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert entry.data == {
        CONF_KIND: "flexible_loads",
        "grid_power_entity": "sensor.grid",
    }
    assert entry.options["time_of_use"] == "00:00 0.1, 08:00 0.3"
    await hass.async_block_till_done()

    load = {
        "name": "Water heater",
        "load_entity": HEATER,
        "power_w": 2000,
        "energy_kwh_per_day": 4,
        "window_start": "00:00:00",
        "window_end": "00:00:00",
        "min_on_minutes": 10,
        "min_off_minutes": 10,
        "priority": 0,
        "interruptible": True,
    }
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "load"), context={"source": "user"}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], load | {"energy_kwh_per_day": 100}
    )
    assert result["errors"] == {"base": "invalid"}
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], load
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    # The same switch again, in this entry and in another one.
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "load"), context={"source": "user"}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], load
    )
    assert result["errors"] == {"load_entity": "load_in_use"}
    other = MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        title="Other loads",
        data={CONF_KIND: "flexible_loads", "grid_power_entity": "sensor.grid"},
        options=dict(entry.options),
    )
    other.add_to_hass(hass)
    result = await hass.config_entries.subentries.async_init(
        (other.entry_id, "load"), context={"source": "user"}
    )
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], load
    )
    assert result["errors"] == {"load_entity": "output_in_use"}
    assert "Flexible loads" in result["description_placeholders"]["error"]
    # The options: the tariff.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            "import_price": 0.25,
            "export_price": 0.04,
            "netting_minutes": "15",
            "safe_state": "leave",
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options["netting_minutes"] == "15"
    assert "time_of_use" not in entry.options


@pytest.mark.usefixtures("helpers")
async def test_with_a_day_of_history_the_plan_runs_loads_in_cheap_hours(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Cheap from 05:00 to 06:00 (local, US/Pacific): the plan puts the need there."""
    await _meter(hass, 300)
    entry = _entry(time_of_use="00:00 0.30, 05:00 0.05, 06:00 0.30")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    coordinator = entry.runtime_data.coordinator
    # Yesterday's site: 300 W all day, without PV.
    give_a_day(coordinator, NOW - timedelta(days=1), 300.0)
    await _step(hass, freezer)
    state = hass.states.get(HEATER_STATE)
    plan = state.attributes["plan"]
    assert len(plan) == 96
    assert plan[0]["start"] == NOW.isoformat()
    # 4 kWh at 2 kW is two hours: the cheap hour takes its share first.
    assert [row["power"] for row in plan[:4]] == [2000] * 4
    assert state.state == "cheap_hour"
    assert hass.states.get(HEATER).state == "on"
    assert hass.states.get(COST).attributes["plan_cost"] > 0


NORDPOOL_SENSOR = "sensor.nord_pool_se3_current_price"


@pytest.mark.usefixtures("helpers")
@pytest.mark.parametrize(
    "unique_id", ["SE3-current_price", "off_peak_1-SE3-block_average"]
)
async def test_nordpool_prices_come_from_its_action(
    hass: HomeAssistant, unique_id: str
) -> None:
    """The price sensor names the entry and area; the action gives the prices."""
    nordpool_entry = MockConfigEntry(
        domain="nordpool",
        title="Nord Pool",
        data={"areas": ["SE3"], "currency": "SEK"},
    )
    nordpool_entry.add_to_hass(hass)
    er.async_get(hass).async_get_or_create(
        "sensor",
        "nordpool",
        unique_id,
        config_entry=nordpool_entry,
        suggested_object_id="nord_pool_se3_current_price",
    )
    asked: list[dict[str, Any]] = []

    async def get_prices_for_date(call: ServiceCall) -> dict[str, Any]:
        asked.append(dict(call.data))
        day = datetime.fromisoformat(call.data["date"]).date()
        start = datetime(day.year, day.month, day.day, 7, tzinfo=UTC)
        return {
            "SE3": [
                {
                    "start": (start + timedelta(hours=hour)).isoformat(),
                    "end": (start + timedelta(hours=hour + 1)).isoformat(),
                    "price": 400.0,
                }
                for hour in range(24)
            ]
        }

    hass.services.async_register(
        "nordpool",
        "get_prices_for_date",
        get_prices_for_date,
        supports_response=SupportsResponse.ONLY,
    )
    await _meter(hass, 1000)
    await _setup(hass, _entry(import_price_entity=NORDPOOL_SENSOR))
    assert [call["areas"] for call in asked] == [["SE3"], ["SE3"]]
    assert asked[0]["config_entry"] == nordpool_entry.entry_id
    assert asked[0]["date"] == "2026-06-01"
    assert hass.states.get(COST).attributes["price_problem"] is None


OCTOPUS = "event.octopus_energy_electricity_21l1234_1234567890_current_day_rates"


@pytest.mark.usefixtures("helpers")
async def test_octopus_rates_event_entity(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Octopus Energy's current day rates, as its event entity keeps them."""
    midnight = datetime(2026, 6, 1, tzinfo=UTC)
    rates = [
        {
            "start": (midnight + timedelta(minutes=30 * i)).isoformat(),
            "end": (midnight + timedelta(minutes=30 * (i + 1))).isoformat(),
            "value_inc_vat": 0.24,
            "is_capped": False,
        }
        for i in range(48)
    ]
    hass.states.async_set(
        OCTOPUS,
        "2026-06-01T00:00:00.000+00:00",
        {
            "event_types": ["octopus_energy_electricity_current_day_rates"],
            "event_type": "octopus_energy_electricity_current_day_rates",
            "rates": rates,
            "tariff_code": "E-1R-AGILE-24-10-01-C",
        },
    )
    await _meter(hass, 3000)
    await _setup(hass, _entry(import_price_entity=OCTOPUS))
    await _step(hass, freezer, 60)
    # 3 kW for a minute at 0.24 per kWh.
    assert float(hass.states.get(COST).state) == pytest.approx(0.012, rel=0.01)


TIBBER_SENSOR = "sensor.electricity_price_home"


@pytest.mark.usefixtures("helpers")
async def test_tibber_prices_come_from_its_action(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Tibber's ``get_prices`` answers per home; the cost is priced from it."""
    tibber_entry = MockConfigEntry(domain="tibber", title="Tibber")
    tibber_entry.add_to_hass(hass)
    er.async_get(hass).async_get_or_create(
        "sensor",
        "tibber",
        "home-id-1",
        config_entry=tibber_entry,
        suggested_object_id="electricity_price_home",
    )
    hass.states.async_set(TIBBER_SENSOR, "0.3", {"unit_of_measurement": "EUR/kWh"})

    async def get_prices(call: ServiceCall) -> dict[str, Any]:
        start = datetime.fromisoformat(call.data["start"])
        # As Tibber's own answer: local times with milliseconds, per kWh.
        return {
            "prices": {
                "Home": [
                    {
                        "start_time": (start + timedelta(hours=hour)).isoformat(
                            timespec="milliseconds"
                        ),
                        "price": 0.3,
                    }
                    for hour in range(48)
                ]
            }
        }

    hass.services.async_register(
        "tibber", "get_prices", get_prices, supports_response=SupportsResponse.ONLY
    )
    await _meter(hass, 2000)
    await _setup(hass, _entry(import_price_entity=TIBBER_SENSOR))
    await _step(hass, freezer, 60)
    assert hass.states.get(COST).attributes["price_problem"] is None
    # 2 kW for a minute at 0.30 per kWh.
    assert float(hass.states.get(COST).state) == pytest.approx(0.01, rel=0.01)


@pytest.mark.usefixtures("helpers")
async def test_a_need_waits_for_room_under_the_billed_peak(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """The heater must run to meet its need by its window's end, but peak
    shaving leaves 500 W: it waits (``peak_limit``) until there is room."""
    closes = dt_util.as_local(NOW + timedelta(hours=2)).strftime("%H:%M:00")
    entry = MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        title="Flexible loads",
        data=dict(_entry().data),
        options=dict(_entry().options),
        subentries_data=[_load("Water heater", HEATER, window_end=closes)],
    )
    await _meter(hass, 1000)
    _post_peak_shaving(hass, grid_w=500)
    await _setup(hass, entry)
    assert hass.states.get(HEATER).state == "off"
    assert hass.states.get(HEATER_STATE).state == "peak_limit"
    _post_peak_shaving(hass, grid_w=2500)
    await _step(hass, freezer)
    assert hass.states.get(HEATER).state == "on"
    assert hass.states.get(HEATER_STATE).state == "meeting_need"


@pytest.mark.usefixtures("helpers")
async def test_a_boost_waits_for_room_under_a_fuse(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """A boost goes through the billed peak, never through a fuse.

    Peak shaving posts 500 W left under the busiest phase's fuse: the
    boosted pump (1 kW) waits (``grid_limit``), its boost kept; with room
    it runs.
    """
    await _meter(hass, 500)
    _post_peak_shaving(hass, grid_w=0.0, phase_w=500, connection_w=9000)
    entry = await _setup(hass, _entry())
    await _boost_pump(hass, entry)
    assert hass.states.get(PUMP).state == "off"
    assert hass.states.get(PUMP_STATE).state == "grid_limit"
    _post_peak_shaving(hass, grid_w=0.0, phase_w=1500, connection_w=9000)
    await _step(hass, freezer)
    assert hass.states.get(PUMP).state == "on"
    assert hass.states.get(PUMP_STATE).state == "boost"


@pytest.mark.usefixtures("helpers")
async def test_a_demand_charge_bills_the_peak_and_keeps_it_over_a_restart(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """A quarter-hour importing 3 kW is the month's billed peak, restart or not.

    The plan weighs that peak (the tariff's demand charge, as the
    backtest's orchestrator does); *Cost today* shows it.
    """
    await _meter(hass, 3000)
    entry = await _setup(
        hass,
        _entry(
            demand_charge_per_kw=10.0,
            billing_interval_minutes="15",
            billing_period="month",
        ),
    )
    tariff = entry.runtime_data.coordinator.controller.tariff
    assert (tariff.demand_charge_per_kw, tariff.billing_minutes) == (10.0, 15)
    assert hass.states.get(COST).attributes["billed_peak"] == 0.0
    for _ in range(16):
        # The meter reports every minute, as a real one does (a stale
        # reading is not booked).
        hass.states.async_set(
            METER, "3000", {"unit_of_measurement": "W"}, force_update=True
        )
        await _step(hass, freezer, 60)
    assert hass.states.get(COST).attributes["billed_peak"] == pytest.approx(3000)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await _meter(hass, 500)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(COST).attributes["billed_peak"] == pytest.approx(3000)
    plan = entry.runtime_data.coordinator.controller.plan
    assert plan is None or plan.billed_peak_w >= 3000


@pytest.mark.usefixtures("helpers")
async def test_under_a_demand_charge_the_plan_posts_the_cars_room(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Without peak shaving the loads' plan holds the billed peak and posts its room.

    A wallbox manager's deadline then charges under it, as under peak
    shaving's post; a peak shaver's post wins, and the loads take theirs
    back. The loads' own step does not read their own post.
    """
    await _meter(hass, 300)
    entry = await _setup(hass, _entry(demand_charge_per_kw=10.0))
    coordinator = entry.runtime_data.coordinator
    give_a_day(coordinator, NOW - timedelta(days=1), 300.0)
    await _step(hass, freezer)
    now = dt_util.utcnow()
    room = async_site_headroom(hass, now)
    assert room is not None
    assert room.source == "Flexible loads"
    assert room.lifts_level is False
    assert room.ahead is not None
    plan = coordinator.controller.plan
    assert plan is not None
    level = plan.billed_peak_w
    assert level > 300
    # Later steps without a planned load: the level less the house's 300 W.
    assert room.ahead.peak_w[-1] == pytest.approx(level - 300, abs=1)
    assert async_site_headroom(hass, now, entry.entry_id) is None
    _post_peak_shaving(hass, grid_w=1500.0)
    await _step(hass, freezer)
    room = async_site_headroom(hass, dt_util.utcnow())
    assert room is not None
    assert (room.source, room.grid_w) == ("Peak shaving", 1500.0)
