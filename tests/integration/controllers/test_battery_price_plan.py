"""The battery manager's price plan in Home Assistant: options, plan, prices lost, restart."""

from datetime import UTC, datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.input_number import DOMAIN as INPUT_NUMBER
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_orchestrator.const import DOMAIN
from custom_components.energy_orchestrator.controller.battery_plan import (
    LoadsBatteryPlan,
    async_post_loads_plan,
)
from custom_components.energy_orchestrator.controller.site_limits import (
    BatteryReserve,
    async_post_reserve,
    entity_devices,
)
from custom_components.energy_orchestrator.lib.control.battery_price_plan import (
    BatteryPricePlan,
    PlanSlot,
)
from custom_components.energy_orchestrator.lib.control.battery_states import (
    BatteryState,
    Reason,
)
from tests.integration.controllers.test_battery_manager import (
    BMS_SOC,
    STATE,
    entry_data,
    inverter,
    manager_entry,
    pack_voltage,
    set_battery,
    setup,
)
from tests.integration.controllers.test_battery_reserve import bms_device
from tests.integration.controllers.test_site_view import add_site
from tests.integration.texts import errors_shown

# The fixtures, shared with the battery manager's tests.
__all__ = ["bms_device", "inverter"]

PLAN = "sensor.house_battery_price_plan"
SETPOINT = "input_number.battery_power"
ENTSOE = "sensor.average_electricity_price"
# Midnight: a cheap night ahead, a dear evening.
NOW = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
NIGHT_AND_EVENING = "00:00 0.08, 06:00 0.20, 18:00 0.40, 22:00 0.20"


def _entsoe(hass: HomeAssistant, per_mwh: list[float]) -> None:
    """Publish a day of hourly prices from midnight on, as ENTSO-e's sensor does."""
    prices = [
        {"time": (NOW + timedelta(hours=hour)).isoformat(), "price": price}
        for hour, price in enumerate(per_mwh)
    ]
    hass.states.async_set(
        ENTSOE,
        str(per_mwh[0]),
        {"unit_of_measurement": "EUR/MWh", "prices_today": prices},
    )


async def _refresh(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Take one step of the manager."""
    await entry.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()


async def _planned(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, soc: float, **options: Any
) -> MockConfigEntry:
    """At midnight, a manager with ``options`` on a battery at ``soc`` %, planned.

    The first step has no SOC yet: the second plans.
    """
    freezer.move_to(NOW)
    set_battery(hass, 53.0, 0.0, soc=soc)
    # The schedule's times are local: here, UTC's.
    await hass.config.async_set_time_zone("UTC")
    entry = manager_entry(**options)
    await setup(hass, entry)
    await _refresh(hass, entry)
    return entry


@pytest.mark.usefixtures("inverter")
async def test_a_schedule_charges_the_battery_in_the_cheap_night(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Prices by time of day: charge now (cheap), the plan drawn per slot."""
    await _planned(
        hass, freezer, 30, time_of_use=NIGHT_AND_EVENING, round_trip_efficiency=90
    )
    state = hass.states.get(STATE)
    assert state.state == "charge"
    assert state.attributes["reason"] == "cheap_hour"
    assert hass.states.get("input_select.inverter_mode").state == "Charge"
    plan = hass.states.get(PLAN)
    assert plan.state == "charge"
    rows = plan.attributes["plan"]
    assert len(rows) == 96
    assert {"start", "mode", "price", "soc"} <= rows[0].keys()
    evening = [row for row in rows if row["start"].startswith("2026-03-02T18")]
    assert {row["mode"] for row in evening} == {"sell"}
    assert plan.attributes["saving"] > 0


@pytest.mark.usefixtures("inverter")
async def test_a_flat_price_rests_instead_of_following_the_windows(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """One price all day: no cycle pays, the plan holds the battery at rest."""
    await _planned(hass, freezer, 50, import_price=0.25)
    assert hass.states.get(STATE).state == "rest"
    assert hass.states.get(PLAN).state == "rest"


@pytest.mark.usefixtures("inverter")
async def test_prices_that_cannot_be_read_fall_back_to_the_windows_with_an_issue(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """ENTSO-e's forecast plans; gone, no plan, a repair issue, the windows decide."""
    _entsoe(hass, [80.0] * 6 + [200.0] * 12 + [400.0] * 4 + [200.0] * 2)
    entry = await _planned(hass, freezer, 30, import_price_entity=ENTSOE)
    assert hass.states.get(STATE).attributes["reason"] == "cheap_hour"
    assert hass.states.get(PLAN).state == "charge"

    hass.states.async_set(ENTSOE, "unavailable", {})
    freezer.tick(timedelta(minutes=5))
    await _refresh(hass, entry)
    assert hass.states.get(PLAN).state == "unknown"
    assert hass.states.get(PLAN).attributes["plan"] == []
    # At rest, then the windows' automatic rules decide.
    assert hass.states.get(STATE).state == "rest"
    assert hass.states.get(STATE).attributes["reason"] == "price_plan_ended"
    assert hass.states.get("input_select.inverter_mode").state == "Standby"
    issues = ir.async_get(hass).issues
    raised = [key for key in issues if key[0] == DOMAIN]
    assert any(
        "battery_prices_unreadable" in issue.translation_key
        for issue in (issues[key] for key in raised)
    )

    _entsoe(hass, [80.0] * 6 + [200.0] * 12 + [400.0] * 4 + [200.0] * 2)
    freezer.tick(timedelta(minutes=1))
    await _refresh(hass, entry)
    assert hass.states.get(PLAN).state == "charge"
    assert not [
        key
        for key, issue in ir.async_get(hass).issues.items()
        if issue.translation_key == "battery_prices_unreadable"
    ]


@pytest.mark.usefixtures("inverter")
async def test_the_plan_survives_a_restart_while_the_prices_are_not_back_yet(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """The saved plan runs on until the price entity answers again."""
    _entsoe(hass, [80.0] * 6 + [200.0] * 12 + [400.0] * 4 + [200.0] * 2)
    entry = await _planned(hass, freezer, 30, import_price_entity=ENTSOE)
    planned = hass.states.get(PLAN).attributes["plan"]
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    saved = hass_storage[f"{DOMAIN}.battery_manager.{entry.entry_id}"]["data"]
    assert len(saved["price_plan"]["slots"]) == len(planned)

    # Back before the price integration is.
    hass.states.async_remove(ENTSOE)
    freezer.tick(timedelta(seconds=30))
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.get(PLAN).state == "charge"
    assert hass.states.get(PLAN).attributes["plan"] == planned
    assert hass.states.get(STATE).attributes["reason"] == "cheap_hour"


@pytest.mark.usefixtures("inverter")
async def test_options_take_the_tariff_and_refuse_what_cannot_work(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """Two price sources, an unreadable schedule or entity: translated errors."""
    freezer.move_to(NOW)
    set_battery(hass, 53.0, 0.0, soc=50)
    entry = manager_entry()
    await setup(hass, entry)
    # Without a tariff (nor a flexible loads plan), no plan to follow.
    assert hass.states.get(PLAN).state == "unknown"
    hass.states.async_set(
        "sensor.not_prices", "0.2", {"unit_of_measurement": "EUR/kWh"}
    )

    async def submit(**changes: Any) -> dict[str, Any]:
        result = await hass.config_entries.options.async_init(entry.entry_id)
        return dict(
            await hass.config_entries.options.async_configure(
                result["flow_id"], {**entry.options, **changes}
            )
        )

    result = await submit(import_price=0.2, time_of_use=NIGHT_AND_EVENING)
    assert result["errors"] == {"time_of_use": "price_twice"}
    assert "not both" in errors_shown(result, ("options",))["time_of_use"]
    result = await submit(time_of_use="dawn 0.1")
    assert result["errors"] == {"time_of_use": "invalid_time_of_use"}
    assert "'dawn 0.1'" in errors_shown(result, ("options",))["time_of_use"]
    result = await submit(import_price_entity="sensor.not_prices")
    assert result["errors"] == {"import_price_entity": "price_entity_unreadable"}
    assert (
        "sensor.not_prices" in errors_shown(result, ("options",))["import_price_entity"]
    )
    result = await submit(
        time_of_use=NIGHT_AND_EVENING, cycle_cost_per_kwh=0.02, round_trip_efficiency=85
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    settings = entry.runtime_data.coordinator.price_settings
    assert settings is not None
    assert settings.cycle_cost_per_kwh == 0.02
    assert settings.round_trip_efficiency == pytest.approx(0.85)
    assert hass.states.get(PLAN) is not None


@pytest.mark.usefixtures("bms_device")
async def test_peak_shavings_schedule_is_filled_in_the_cheap_hours_before_it(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """A reserve of 70 % from 06:00 on: bought at the night's cheapest, not at once."""
    # Charging costs at 0.25 now, 0.05 from 02:00; no arbitrage at a flat 0.25 after.
    entry = await _planned(
        hass,
        freezer,
        30,
        time_of_use="00:00 0.25, 02:00 0.05, 04:00 0.25",
        round_trip_efficiency=50,
    )
    devices = entity_devices(hass, [BMS_SOC])
    async_post_reserve(
        hass,
        "peak",
        BatteryReserve(
            at=NOW,
            source="Peak shaving",
            soc=20.0,
            devices=devices,
            ahead=tuple(
                (NOW + timedelta(minutes=15 * index), 20.0 if index < 24 else 70.0)
                for index in range(48)
            ),
        ),
    )
    await _refresh(hass, entry)
    rows = hass.states.get(PLAN).attributes["plan"]
    modes = {row["start"][11:16]: (row["mode"], row["reason"]) for row in rows}
    # Not bought at once at 0.25 (selling some then pays: it comes back at 0.05).
    assert modes["00:00"][0] != "charge"
    night = [
        modes[f"{hour:02d}:{minute:02d}"]
        for hour in (2, 3)
        for minute in (0, 15, 30, 45)
    ]
    assert ("charge", "filling_peak_reserve") in night
    early = [
        modes[f"{hour:02d}:{minute:02d}"]
        for hour in (0, 1)
        for minute in (0, 15, 30, 45)
    ]
    assert all(mode != "charge" for mode, _ in early)
    at_six = next(row for row in rows if row["start"].startswith("2026-03-02T05:45"))
    assert at_six["soc"] >= 70.0 - 0.1


@pytest.mark.usefixtures("inverter")
async def test_the_site_plan_carries_the_battery_price_plan(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """The site device's Planned peak shows the price plan, slot by slot."""
    await _planned(hass, freezer, 30, time_of_use=NIGHT_AND_EVENING)
    await add_site(hass)
    rows = hass.states.get("sensor.site_planned_peak").attributes["battery_prices"]
    assert len(rows) == 96
    assert rows[0] == {
        "controller": "House battery",
        "start": NOW.isoformat(),
        "mode": "charge",
        "price": 0.08,
        "soc": rows[0]["soc"],
    }


@pytest.mark.usefixtures("inverter")
async def test_a_slot_planned_at_part_of_the_power_gets_that_part_of_the_setpoint(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """1.5 kW of charge planned on a 3 kW setpoint: the number says 1500, not 3000.

    Sold at the full setpoint, a slot planned at part of the power would
    empty (or fill) the battery faster than the plan, and an hour netted
    in one quarter would export what it meant to keep.
    """
    assert await async_setup_component(
        hass,
        INPUT_NUMBER,
        {INPUT_NUMBER: {"battery_power": {"min": -3000, "max": 3000, "step": 1}}},
    )
    freezer.move_to(NOW)
    set_battery(hass, pack_voltage(0.5), 0.0, soc=50)
    battery = MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        title="House battery",
        data={
            **entry_data(),
            "setpoint_entity": SETPOINT,
            "setpoint_charge": 3000,
            "setpoint_rest": 0,
            "setpoint_sell": -3000,
        },
        options=manager_entry(soc_floor=10, soc_ceiling=95).options,
    )
    await setup(hass, battery)
    await _refresh(hass, battery)

    def post(mode: BatteryState, reason: Reason, battery_w: float) -> None:
        slot = PlanSlot(NOW, mode, reason, battery_w, 0.1, 40.0)
        plan = BatteryPricePlan(NOW, timedelta(minutes=15), (slot,), 0.0)
        async_post_loads_plan(
            hass,
            "flexible_loads",
            LoadsBatteryPlan(
                at=freezer.time_to_freeze.replace(tzinfo=UTC),
                entry_id="flexible_loads",
                source="Flexible loads",
                battery=battery.entry_id,
                plan=plan,
            ),
        )

    post(BatteryState.CHARGE, Reason.CHEAP_HOUR, 1500.0)
    freezer.tick(timedelta(seconds=5))
    await _refresh(hass, battery)
    assert hass.states.get(STATE).attributes["reason"] == "cheap_hour"
    assert float(hass.states.get(SETPOINT).state) == 1500.0

    post(BatteryState.SELL, Reason.DEAR_HOUR, -1200.0)
    freezer.tick(timedelta(seconds=5))
    await _refresh(hass, battery)
    assert hass.states.get(STATE).state == "sell"
    assert float(hass.states.get(SETPOINT).state) == -1200.0

    # A plan asking more than the setpoint: the setpoint, never beyond.
    post(BatteryState.SELL, Reason.DEAR_HOUR, -4500.0)
    freezer.tick(timedelta(seconds=5))
    await _refresh(hass, battery)
    assert float(hass.states.get(SETPOINT).state) == -3000.0

    # A mode you ask for: its full setpoint.
    await hass.services.async_call(
        "select",
        "select_option",
        {"entity_id": "select.house_battery_mode", "option": "charge"},
        blocking=True,
    )
    await hass.async_block_till_done()
    assert float(hass.states.get(SETPOINT).state) == 3000.0
