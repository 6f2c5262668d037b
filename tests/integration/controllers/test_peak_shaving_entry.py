"""The peak-shaving entry in Home Assistant: flow, stepping, outputs, actions."""

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import AsyncMock, patch

from forecast_solar import Estimate
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.input_number import DOMAIN as INPUT_NUMBER
from homeassistant.config_entries import ConfigEntryState, ConfigSubentryData
from homeassistant.core import HomeAssistant, State
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
from homeassistant.setup import async_setup_component
import probatio
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_orchestrator.const import CONF_KIND, DOMAIN
from custom_components.energy_orchestrator.diagnostics import (
    async_get_config_entry_diagnostics,
)
from custom_components.energy_orchestrator.lib.control.billing import BillingPeriod
from custom_components.energy_orchestrator.peak_shaving.coordinator import _watts
from custom_components.energy_orchestrator.peak_shaving.pv_forecast import (
    solcast_series,
)
from tests.integration.controllers.peak_and_car import (
    BATTERY,
    SETPOINT,
    SOC,
    async_setup_setpoint,
    peak_shaving_entry,
)
from tests.integration.controllers.test_wallbox_manager import GRID
from tests.integration.texts import errors_shown

STATE = "sensor.peak_shaving"
LIMIT = "sensor.peak_shaving_active_import_limit"


def report(hass: HomeAssistant, grid: float, battery: float, soc: float = 60) -> None:
    hass.states.async_set(
        GRID, str(grid), {"unit_of_measurement": "W"}, force_update=True
    )
    hass.states.async_set(
        BATTERY, str(battery), {"unit_of_measurement": "W"}, force_update=True
    )
    hass.states.async_set(
        SOC, str(soc), {"unit_of_measurement": "%"}, force_update=True
    )


@pytest.fixture
async def setpoint(hass: HomeAssistant) -> None:
    await async_setup_setpoint(hass)


@pytest.fixture
def entry() -> MockConfigEntry:
    return peak_shaving_entry()


# The peak-shaving form with what it requires.
FORM = {
    "name": "Peak shaving",
    "grid_power_entity": GRID,
    "battery_power_entity": BATTERY,
    "battery_soc_entity": SOC,
    "battery_setpoint_entity": SETPOINT,
    "invert_setpoint": False,
    "battery_capacity_kwh": 10,
    "battery_max_kw": 5,
    "billing_interval_minutes": "15",
}


def changed(
    entry: MockConfigEntry,
    *,
    data: Mapping[str, Any] | None = None,
    options: Mapping[str, Any] | None = None,
) -> MockConfigEntry:
    """Return a new peak-shaving entry: the fixture's, with some settings changed."""
    return MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        title="Peak shaving",
        data={**entry.data, **(data or {})},
        options={**entry.options, **(options or {})},
    )


async def start_flow(hass: HomeAssistant) -> str:
    """Open the add form of peak shaving; return the flow's id."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "user"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "peak_shaving"}
    )
    assert result["step_id"] == "peak_shaving"
    return str(result["flow_id"])


async def setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def plan_from_history(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    now: datetime,
    minutes_before: range,
    load_w: Callable[[int], float],
) -> None:
    """Give the entry's shaver a load history (no recorder here), then re-plan by the action.

    ``load_w`` is the load that many minutes before ``now``; no PV.
    """
    shaver = entry.runtime_data.coordinator.shaver
    for minute in minutes_before:
        shaver.observe(now - timedelta(minutes=minute), load_w(minute), 0.0)
    await hass.services.async_call(
        DOMAIN,
        "replan_peak_shaving",
        {"config_entry_id": entry.entry_id},
        blocking=True,
    )


@pytest.mark.usefixtures("setpoint")
async def test_holds_the_limit_and_sets_the_battery(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    freezer.move_to(datetime(2026, 1, 5, 12, 0, tzinfo=UTC))
    report(hass, 5000, 0)
    await setup(hass, entry)
    assert hass.states.get(STATE).state == "shaving"
    assert hass.states.get(LIMIT).state == "3000.0"
    # 2 kW over the limit, aimed a deadband (25 W) under it.
    assert float(hass.states.get(SETPOINT).state) == pytest.approx(-2025, abs=1)
    # Stop: the battery is left alone.
    await hass.services.async_call(
        DOMAIN, "stop_peak_shaving", {"config_entry_id": entry.entry_id}, blocking=True
    )
    assert hass.states.get(STATE).state == "stopped"
    assert float(hass.states.get(SETPOINT).state) == 0
    await hass.services.async_call(
        DOMAIN, "start_peak_shaving", {"config_entry_id": entry.entry_id}, blocking=True
    )
    # A lower limit for an hour.
    await hass.services.async_call(
        DOMAIN,
        "set_grid_limits",
        {
            "config_entry_id": entry.entry_id,
            "import_limit": 1000,
            "duration": {"hours": 1},
        },
        blocking=True,
    )
    assert hass.states.get(LIMIT).state == "1000.0"
    assert float(hass.states.get(SETPOINT).state) == pytest.approx(-4025, abs=1)
    # Unloading sets the battery to 0 W and keeps the limits for a restart.
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    assert float(hass.states.get(SETPOINT).state) == 0
    saved = hass_storage[f"{DOMAIN}.peak_shaving.{entry.entry_id}"]["data"]
    assert saved["override"]["import_limit_w"] == 1000
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(LIMIT).state == "1000.0"
    freezer.tick(timedelta(hours=1, minutes=1))
    await entry.runtime_data.coordinator.async_refresh()
    assert hass.states.get(LIMIT).state == "3000.0"


@pytest.mark.usefixtures("setpoint")
async def test_inverted_setpoint_and_unavailable_inputs(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    entry = changed(entry, data={"invert_setpoint": True})
    report(hass, 5000, 0)
    await setup(hass, entry)
    assert float(hass.states.get(SETPOINT).state) == pytest.approx(2025, abs=1)
    hass.states.async_set(GRID, "unavailable")
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    assert hass.states.get(STATE).attributes["reason"] == "inputs_unavailable"
    assert float(hass.states.get(SETPOINT).state) == 0


@pytest.mark.usefixtures("setpoint")
async def test_the_reason_says_why_and_what_there_is_nothing_of_yet_is_unknown(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """No limit set and no history: idle, waiting for a forecast, no plan yet."""
    entry = changed(entry, options={"import_limit_w": None})
    report(hass, 1000, 0)
    await setup(hass, entry)
    assert hass.states.get(STATE).state == "idle"
    assert hass.states.get("sensor.peak_shaving_reason").state == "no_forecast_yet"
    nothing_yet = (
        LIMIT,
        "sensor.peak_shaving_planned_peak",
        "sensor.peak_shaving_planned_state_of_charge",
        "sensor.peak_shaving_headroom",
    )
    assert [hass.states.get(sensor).state for sensor in nothing_yet] == ["unknown"] * 4
    # The meter gone, the headroom cannot be trusted; the plan is still not there.
    hass.states.async_set(GRID, "unavailable")
    await entry.runtime_data.coordinator.async_refresh()
    assert hass.states.get("sensor.peak_shaving_reason").state == "inputs_unavailable"
    assert [hass.states.get(sensor).state for sensor in nothing_yet] == [
        "unknown",
        "unknown",
        "unknown",
        "unavailable",
    ]


@pytest.mark.usefixtures("setpoint")
async def test_actions_refuse_nonsense(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    report(hass, 1000, 0)
    await setup(hass, entry)
    # The schema turns away a call without any limit.
    with pytest.raises(probatio.Invalid, match="at least one of"):
        await hass.services.async_call(
            DOMAIN,
            "set_grid_limits",
            {"config_entry_id": entry.entry_id},
            blocking=True,
        )
    battery_entry = MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        title="House battery",
        data={CONF_KIND: "battery_manager"},
    )
    battery_entry.add_to_hass(hass)
    battery_entry.mock_state(hass, ConfigEntryState.LOADED)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "replan_peak_shaving",
            {"config_entry_id": battery_entry.entry_id},
            blocking=True,
        )
    assert err.value.translation_key == "not_peak_shaving"


async def test_config_and_options_flow(hass: HomeAssistant, setpoint: None) -> None:
    flow_id = await start_flow(hass)
    form = {**FORM, "battery_soc_min": 90, "battery_soc_max": 80}
    result = await hass.config_entries.flow.async_configure(flow_id, form)
    assert result["errors"] == {"battery_soc_min": "soc_min_above_max"}
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**form, "battery_soc_min": 10, "import_limit_w": 4000}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["kind"] == "peak_shaving"
    assert result["options"]["import_limit_w"] == 4000
    # Demand is billed per month unless the user says otherwise.
    assert result["options"]["billing_period"] == "month"
    assert "import_limit_w" not in result["data"]
    entry = result["result"]
    report(hass, 1000, 0)
    await hass.async_block_till_done()
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["step_id"] == "peak_shaving"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {**entry.options, "import_limit_w": 2500, "billing_period": "year"},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options["import_limit_w"] == 2500
    await hass.async_block_till_done()
    shaver = entry.runtime_data.coordinator.shaver
    assert shaver.settings.billing_period is BillingPeriod.YEAR


def test_history_and_forecast_parsing() -> None:
    moment = datetime(2026, 1, 5, tzinfo=UTC)
    states = [
        State(GRID, "1.5", {"unit_of_measurement": "kW"}, last_changed=moment),
        State(GRID, "unavailable", {"unit_of_measurement": "W"}, last_changed=moment),
        State(GRID, "700", {}, last_changed=moment),
    ]
    assert [value for _, value in _watts(states)] == [1500.0, None, 700.0]
    forecast = State(
        "sensor.solcast",
        "5.1",
        {
            "detailedForecast": [
                {"period_start": "2026-01-05T10:00:00+01:00", "pv_estimate": 1.25},
                {"period_start": "garbage", "pv_estimate": 3},
                {"pv_estimate": 2},
            ]
        },
    )
    assert solcast_series(forecast) == [(datetime(2026, 1, 5, 9, tzinfo=UTC), 1250.0)]
    assert solcast_series(None) == []


@pytest.mark.usefixtures("setpoint")
async def test_the_billed_peak_is_reset_by_action_and_stays_reset(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    billed = "sensor.peak_shaving_billed_peak"
    freezer.move_to(datetime(2026, 1, 5, 12, 0, tzinfo=UTC))
    report(hass, 5000, 0)
    await setup(hass, entry)
    coordinator = entry.runtime_data.coordinator
    for _ in range(4):
        freezer.tick(timedelta(minutes=5))
        report(hass, 5000, 0)
        await coordinator.async_refresh()
    assert float(hass.states.get(billed).state) == pytest.approx(5000)
    await hass.services.async_call(
        DOMAIN, "reset_billed_peak", {"config_entry_id": entry.entry_id}, blocking=True
    )
    assert float(hass.states.get(billed).state) == 0
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    saved = hass_storage[f"{DOMAIN}.peak_shaving.{entry.entry_id}"]["data"]
    assert saved["billed_peak_w"] == 0
    assert saved["billing_period"] == "2026-01"


@pytest.mark.usefixtures("setpoint")
async def test_the_learned_forecast_caution_is_shown_and_kept(
    hass: HomeAssistant,
    entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """Weeks of learning are not lost to a restart: the store keeps them.

    The plan's attributes show the caution and the load scale it used.
    """
    planned = "sensor.peak_shaving_planned_peak"
    key = f"{DOMAIN}.peak_shaving.{entry.entry_id}"
    # Five replayed days on which every caution, the mean's too, covered the need.
    covered = [[True] * 5 for _ in range(5)]
    hass_storage[key] = {
        "version": 1,
        "key": key,
        "data": {
            "version": 1,
            "billed_peak_w": 0.0,
            "billing_period": "2026-01",
            "started": True,
            "override": None,
            "forecast_caution": {
                "cautions": [0.0, 0.25, 0.5, 0.75, 1.0],
                "covered": covered,
                "last_day": 20457,
            },
        },
    }
    now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    freezer.move_to(now)
    report(hass, 2000, 0)
    await setup(hass, entry)
    # Two days of history, the last six hours at half the load before, then
    # a plan from it.
    await plan_from_history(
        hass,
        entry,
        now,
        range(0, 48 * 60, 5),
        lambda minute: 1000.0 if minute <= 6 * 60 else 2000.0,
    )
    attributes = hass.states.get(planned).attributes
    assert attributes["forecast_caution"] == 0.0
    # The day running at half its forecast scales the plan by the floor.
    assert attributes["load_scale"] == 0.9
    # With a record, no stretch is insured against.
    assert attributes["heavy_stretch_hours"] == 0.0
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    saved = hass_storage[key]["data"]["forecast_caution"]
    assert saved["covered"] == covered


PHASES = tuple(f"sensor.meter_grid_power_l{phase}" for phase in (1, 2, 3))
VOLTAGE = "sensor.bms_voltage"


@pytest.mark.usefixtures("setpoint")
async def test_a_heavy_stretch_in_the_first_days_is_shown_on_the_plan(
    hass: HomeAssistant, entry: MockConfigEntry, freezer: FrozenDateTimeFactory
) -> None:
    """Before the caution has a record, three hours above the forecast are insured.

    Two days of 1 kW, then 2.5 kW since 17:00, and 3 kWh in the battery:
    the plan holds three more hours like them, and says so. Without an
    import limit: the planner sets the level.
    """
    planned = "sensor.peak_shaving_planned_peak"
    unlimited = MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        title=entry.title,
        data=entry.data,
        options={k: v for k, v in entry.options.items() if k != "import_limit_w"},
    )
    now = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)
    freezer.move_to(now)
    # The grid now at 1 kW, so the running interval bills no more than that.
    report(hass, 1000, 0, soc=30)
    await setup(hass, unlimited)
    await plan_from_history(
        hass,
        unlimited,
        now,
        range(5, 50 * 60, 5),
        lambda minute: 2500.0 if minute <= 3 * 60 else 1000.0,
    )
    coordinator = unlimited.runtime_data.coordinator
    state = hass.states.get(planned)
    assert state.attributes["heavy_stretch_hours"] == 3.0
    assert state.attributes["forecast_caution"] == 1.0
    uninsured = coordinator.shaver.memory.uninsured_peak_w
    assert uninsured is not None
    assert float(state.state) > uninsured + 50


def report_phases(hass: HomeAssistant, *watts: float) -> None:
    for entity, value in zip(PHASES, watts, strict=True):
        hass.states.async_set(
            entity, str(value), {"unit_of_measurement": "W"}, force_update=True
        )


async def test_the_flow_checks_phases_and_voltage(
    hass: HomeAssistant, setpoint: None
) -> None:
    """A phase limit needs every phase measured; voltage limits need the voltage.

    An import limit above the grid connection's could never be held.
    """
    flow_id = await start_flow(hass)
    form = FORM
    refused = [
        (
            {"grid_power_l1_entity": PHASES[0]},
            "grid_power_l1_entity",
            "phases_incomplete",
        ),
        ({"phase_limit_w": 5750}, "phase_limit_w", "phase_limit_without_phases"),
        (
            {"import_limit_w": 12000, "connection_limit_w": 9000},
            "import_limit_w",
            "import_limit_above_connection",
        ),
        (
            {"battery_voltage_min_v": 46, "battery_voltage_max_v": 56},
            "battery_voltage_min_v",
            "voltage_limits_without_voltage",
        ),
        (
            {"battery_voltage_entity": VOLTAGE},
            "battery_voltage_min_v",
            "voltage_without_limits",
        ),
    ]
    for extra, field, error in refused:
        result = await hass.config_entries.flow.async_configure(
            flow_id, {**form, **extra}
        )
        assert result["errors"] == {field: error}, extra
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {
            **form,
            "battery_voltage_entity": VOLTAGE,
            "battery_voltage_min_v": 56,
            "battery_voltage_max_v": 46,
        },
    )
    assert result["errors"] == {"base": "invalid"}
    assert "lowest < highest" in result["description_placeholders"]["error"]
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {
            **form,
            **dict(
                zip(
                    (
                        "grid_power_l1_entity",
                        "grid_power_l2_entity",
                        "grid_power_l3_entity",
                    ),
                    PHASES,
                    strict=True,
                )
            ),
            "phase_limit_w": 5750,
            "battery_phases": "l2",
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"]["grid_power_l3_entity"] == PHASES[2]
    assert (
        result["options"]["phase_limit_w"],
        result["options"]["battery_phases"],
    ) == (5750, "l2")
    entry = result["result"]
    await hass.async_block_till_done()
    # The options form knows the entry has no battery voltage.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {**entry.options, "battery_voltage_min_v": 46, "battery_voltage_max_v": 56},
    )
    assert result["errors"] == {
        "battery_voltage_min_v": "voltage_limits_without_voltage"
    }


@pytest.mark.usefixtures("setpoint")
async def test_a_phase_over_its_fuse_is_shaved_and_its_headroom_shown(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """L1 at 6.5 kW, the total at 6.8 kW against 3 kW: the fuse asks for more."""
    entry = changed(
        entry,
        data={
            "grid_power_l1_entity": PHASES[0],
            "grid_power_l2_entity": PHASES[1],
            "grid_power_l3_entity": PHASES[2],
        },
        options={"import_limit_w": 8000, "phase_limit_w": 5750},
    )
    report(hass, 6800, 0)
    report_phases(hass, 6500, 200, 100)
    await setup(hass, entry)
    # 3 x (6500 - 5725): a third of a three-phase battery's power is L1's.
    assert float(hass.states.get(SETPOINT).state) == pytest.approx(-2325, abs=1)
    state = hass.states.get(STATE)
    assert (state.state, state.attributes["reason"]) == ("shaving", "phase_limit")
    headroom = hass.states.get("sensor.peak_shaving_phase_headroom")
    assert float(headroom.state) == pytest.approx(5750 - 6500)
    # A phase that cannot be read: no recharging the fuse cannot be watched for.
    report(hass, 1000, 0)
    hass.states.async_set(PHASES[1], "unavailable")
    await entry.runtime_data.coordinator.async_refresh()
    assert float(hass.states.get(SETPOINT).state) == 0
    assert hass.states.get(STATE).attributes["reason"] == "phases_unavailable"
    assert hass.states.get("sensor.peak_shaving_phase_headroom").state == "unavailable"


@pytest.mark.usefixtures("setpoint")
async def test_without_a_phase_limit_there_is_no_phase_headroom(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    report(hass, 1000, 0)
    await setup(hass, entry)
    assert hass.states.get("sensor.peak_shaving_headroom") is not None
    assert hass.states.get("sensor.peak_shaving_phase_headroom") is None


@pytest.mark.usefixtures("setpoint")
async def test_the_lowest_battery_voltage_stops_the_discharge(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    entry = changed(
        entry,
        data={"battery_voltage_entity": VOLTAGE},
        options={"battery_voltage_min_v": 46.0, "battery_voltage_max_v": 56.0},
    )
    report(hass, 5000, 0)
    hass.states.async_set(VOLTAGE, "45.9", {"unit_of_measurement": "V"})
    await setup(hass, entry)
    assert float(hass.states.get(SETPOINT).state) == 0
    state = hass.states.get(STATE)
    assert (state.state, state.attributes["reason"]) == (
        "cannot_hold",
        "battery_voltage_low",
    )
    hass.states.async_set(VOLTAGE, "48.0", {"unit_of_measurement": "V"})
    report(hass, 5000, 0)
    await entry.runtime_data.coordinator.async_refresh()
    assert float(hass.states.get(SETPOINT).state) == pytest.approx(-2025, abs=60)
    # The voltage cannot be changed in the settings, so its limits may be
    # cleared there: the voltage is then no longer watched.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    cleared = {
        key: value
        for key, value in entry.options.items()
        if not key.startswith("battery_voltage")
    }
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], cleared
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    hass.states.async_set(VOLTAGE, "45.0", {"unit_of_measurement": "V"})
    report(hass, 5000, 0)
    await entry.runtime_data.coordinator.async_refresh()
    assert float(hass.states.get(SETPOINT).state) == pytest.approx(-2025, abs=60)


SECOND_POWER = "sensor.second_battery_power"
SECOND_SOC = "sensor.second_battery_soc"
SECOND_VOLTAGE = "sensor.second_battery_voltage"
SECOND_SETPOINT = "input_number.second_battery_setpoint"


@pytest.fixture
async def two_setpoints(hass: HomeAssistant) -> None:
    assert await async_setup_component(
        hass,
        INPUT_NUMBER,
        {
            INPUT_NUMBER: {
                name: {"min": -5000, "max": 5000, "step": 1}
                for name in ("battery_setpoint", "second_battery_setpoint")
            }
        },
    )


def report_second(
    hass: HomeAssistant, power: float, soc: float, volts: float = 50.0
) -> None:
    for entity, value, unit in (
        (SECOND_POWER, power, "W"),
        (SECOND_SOC, soc, "%"),
        (SECOND_VOLTAGE, volts, "V"),
    ):
        hass.states.async_set(
            entity, str(value), {"unit_of_measurement": unit}, force_update=True
        )


async def add_second_battery(
    hass: HomeAssistant, entry: MockConfigEntry, **overrides: Any
) -> dict[str, Any]:
    """Run the subentry flow for a second battery; return its last result."""
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, "battery"), context={"source": "user"}
    )
    assert result["type"] is FlowResultType.FORM
    form = {
        "name": "Garage battery",
        "battery_power_entity": SECOND_POWER,
        "battery_soc_entity": SECOND_SOC,
        "battery_setpoint_entity": SECOND_SETPOINT,
        "invert_setpoint": True,
        "battery_capacity_kwh": 5,
        "battery_max_kw": 2.5,
        "battery_soc_min": 10,
        "battery_soc_max": 100,
        **overrides,
    }
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], form
    )
    await hass.async_block_till_done()
    return result


@pytest.mark.usefixtures("two_setpoints")
async def test_a_second_battery_shares_the_setpoint_by_what_it_can_give(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """5 kW against 3 kW: the entry's 5 kW battery and a 2.5 kW one share 2 kW."""
    report(hass, 5000, 0)
    report_second(hass, 0, 60)
    await setup(hass, entry)
    # One number for two batteries would set each the other's share.
    result = await add_second_battery(hass, entry, battery_setpoint_entity=SETPOINT)
    assert result["errors"] == {"battery_setpoint_entity": "setpoint_in_use"}
    result = await add_second_battery(hass, entry)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    # The entry started again with both batteries.
    coordinator = entry.runtime_data.coordinator
    assert [battery.name for battery in coordinator.batteries] == [
        SETPOINT,
        "Garage battery",
    ]
    assert coordinator.shaver.battery.capacity_wh == 15000
    report(hass, 5000, 0)
    report_second(hass, 0, 60)
    await coordinator.async_refresh()
    first = float(hass.states.get(SETPOINT).state)
    # The second inverter counts discharge positive.
    second = -float(hass.states.get(SECOND_SETPOINT).state)
    assert first + second == pytest.approx(-2025, abs=60)
    assert first == pytest.approx(2 * second, abs=2)
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    (battery,) = diagnostics["entry"]["subentries"]
    assert (battery["title"], battery["data"]["battery_max_kw"]) == (
        "Garage battery",
        2.5,
    )


@pytest.mark.usefixtures("two_setpoints")
async def test_a_second_battery_at_its_lowest_voltage_leaves_the_load_to_the_first(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    report(hass, 5000, 0)
    report_second(hass, 0, 60, volts=45.0)
    await setup(hass, entry)
    result = await add_second_battery(
        hass,
        entry,
        battery_voltage_entity=SECOND_VOLTAGE,
        battery_voltage_min_v=46,
        battery_voltage_max_v=56,
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    report(hass, 5000, 0)
    report_second(hass, 0, 60, volts=45.0)
    await entry.runtime_data.coordinator.async_refresh()
    assert float(hass.states.get(SECOND_SETPOINT).state) == 0
    assert float(hass.states.get(SETPOINT).state) == pytest.approx(-2025, abs=60)
    # Unreadable, the second battery's voltage leaves the bank alone.
    hass.states.async_set(SECOND_VOLTAGE, "unavailable")
    await entry.runtime_data.coordinator.async_refresh()
    assert float(hass.states.get(SETPOINT).state) == 0
    assert hass.states.get(STATE).attributes["reason"] == "inputs_unavailable"


@pytest.mark.usefixtures("two_setpoints")
async def test_a_second_battery_is_edited_and_removed(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    report(hass, 1000, 0)
    report_second(hass, 0, 60)
    await setup(hass, entry)
    await add_second_battery(hass, entry)
    (subentry,) = entry.subentries.values()
    result = await entry.start_subentry_reconfigure_flow(hass, subentry.subentry_id)
    assert result["step_id"] == "reconfigure"
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {**subentry.data, "name": "Garage battery", "battery_capacity_kwh": 20},
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert entry.runtime_data.coordinator.shaver.battery.capacity_wh == 30000
    assert hass.config_entries.async_remove_subentry(entry, subentry.subentry_id)
    await hass.async_block_till_done()
    assert entry.runtime_data.coordinator.shaver.battery.capacity_wh == 10000
    assert len(entry.runtime_data.coordinator.batteries) == 1


@pytest.mark.usefixtures("two_setpoints")
async def test_a_further_battery_is_refused_what_cannot_work(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """Limits that contradict each other, or a setpoint another controller drives."""
    report(hass, 1000, 0)
    report_second(hass, 0, 60)
    await setup(hass, entry)
    result = await add_second_battery(
        hass,
        entry,
        battery_voltage_entity=SECOND_VOLTAGE,
        battery_voltage_min_v=56,
        battery_voltage_max_v=46,
    )
    assert result["errors"] == {"base": "invalid"}
    assert "lowest < highest" in result["description_placeholders"]["error"]

    manager = MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        title="Garage manager",
        unique_id=SECOND_SETPOINT,
        data={
            CONF_KIND: "battery_manager",
            "voltage_entity": SECOND_VOLTAGE,
            "power_entity": SECOND_POWER,
            "setpoint_entity": SECOND_SETPOINT,
            "setpoint_charge": 2000,
            "setpoint_rest": 0,
            "setpoint_sell": -2000,
        },
    )
    manager.add_to_hass(hass)
    result = await add_second_battery(hass, entry)
    assert result["errors"] == {"battery_setpoint_entity": "output_in_use"}
    assert errors_shown(result, ("config_subentries", "battery")) == {
        "battery_setpoint_entity": "Another controller already drives this"
        f" setpoint: {SECOND_SETPOINT} (Garage manager). A setpoint takes"
        " orders from one controller only."
    }
    assert not entry.subentries

    # Added on a free number, the battery cannot be moved onto the claimed one.
    free = "input_number.third_battery_setpoint"
    result = await add_second_battery(hass, entry, battery_setpoint_entity=free)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    (subentry,) = entry.subentries.values()
    result = await entry.start_subentry_reconfigure_flow(hass, subentry.subentry_id)
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"],
        {
            **subentry.data,
            "name": subentry.title,
            "battery_setpoint_entity": SECOND_SETPOINT,
        },
    )
    assert result["errors"] == {"battery_setpoint_entity": "output_in_use"}
    assert (
        entry.subentries[subentry.subentry_id].data["battery_setpoint_entity"] == free
    )


@pytest.mark.usefixtures("two_setpoints")
async def test_a_battery_that_cannot_be_set_is_logged_once_and_the_other_still_is(
    hass: HomeAssistant, entry: MockConfigEntry, caplog: pytest.LogCaptureFixture
) -> None:
    report(hass, 5000, 0)
    report_second(hass, 0, 60)
    await setup(hass, entry)
    await add_second_battery(hass, entry)
    coordinator = entry.runtime_data.coordinator
    hass.states.async_set(SECOND_SETPOINT, "unavailable")
    for _ in range(3):
        report(hass, 5000, 0)
        report_second(hass, 0, 60)
        await coordinator.async_refresh()
    assert caplog.text.count(f"cannot set {SECOND_SETPOINT}") == 1
    # The first battery still takes its share.
    assert float(hass.states.get(SETPOINT).state) < -1000
    hass.states.async_set(SECOND_SETPOINT, "0", {"min": -5000, "max": 5000})
    await coordinator.async_refresh()
    assert f"{SECOND_SETPOINT} takes commands again" in caplog.text


async def forecast_solar_entry(hass: HomeAssistant, start: datetime) -> MockConfigEntry:
    """Set up Home Assistant's real Forecast.Solar integration, its API answered here."""
    hours = [start + timedelta(hours=index) for index in range(4)]
    estimate = Estimate(
        watts={moment: 1000 * index for index, moment in enumerate(hours)},
        # Wh in the hour starting at each timestamp.
        wh_period={moment: 500 * index for index, moment in enumerate(hours)},
        wh_days={start: 3000},
        api_rate_limit=12,
        api_timezone="UTC",
    )
    entry = MockConfigEntry(
        domain="forecast_solar",
        title="Roof",
        version=3,
        data={"latitude": 52.4, "longitude": 4.9},
        options={"api_key": "", "damping_morning": 0.5, "damping_evening": 0.5},
        subentries_data=[
            ConfigSubentryData(
                subentry_type="plane",
                data={"declination": 30, "azimuth": 190, "modules_power": 5100},
                title="Roof plane",
                unique_id=None,
            )
        ],
    )
    entry.add_to_hass(hass)
    with patch(
        "homeassistant.components.forecast_solar.coordinator.ForecastSolar.estimate",
        new=AsyncMock(return_value=estimate),
    ):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
    return entry


async def test_a_solar_forecast_service_feeds_the_pv_forecast(
    hass: HomeAssistant,
    setpoint: None,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    start = datetime(2026, 6, 1, 10, tzinfo=UTC)
    freezer.move_to(start)
    roof = await forecast_solar_entry(hass, start)
    not_solar = MockConfigEntry(domain="sun", title="Sun")
    not_solar.add_to_hass(hass)
    flow_id = await start_flow(hass)
    form = {**FORM, "import_limit_w": 3000}
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**form, "pv_forecast_entry": not_solar.entry_id}
    )
    assert result["errors"] == {"pv_forecast_entry": "not_a_solar_forecast"}
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {
            **form,
            "pv_forecast_entry": roof.entry_id,
            "pv_forecast_entity": "sensor.solcast",
        },
    )
    assert result["errors"] == {"pv_forecast_entry": "pv_forecast_twice"}
    report(hass, 1000, 0)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**form, "pv_forecast_entry": roof.entry_id}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    shaver = result["result"].runtime_data.coordinator.shaver
    # 500 Wh in the hour from 11:00 is 500 W over it, and so on.
    assert shaver.pv_forecast == [
        (start + timedelta(hours=index), 500.0 * index) for index in range(4)
    ]
    # The service gone: PV from history, said once when it lasts ten minutes.
    coordinator = result["result"].runtime_data.coordinator
    assert await hass.config_entries.async_unload(roof.entry_id)
    for minutes in (16, 17, 27, 28, 29):
        freezer.move_to(start + timedelta(minutes=minutes))
        report(hass, 1000, 0)
        await coordinator.async_refresh()
    assert shaver.pv_forecast == []
    assert caplog.text.count("has given no forecast for 0:10:00") == 1
