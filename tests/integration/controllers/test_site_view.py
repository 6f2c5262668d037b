"""The site device: who drives each output, the layer behind the last change, headroom."""

from datetime import UTC, datetime, timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_orchestrator.const import DOMAIN
from tests.integration.controllers.peak_and_car import SETPOINT
from tests.integration.controllers.test_flexible_loads import (
    _entry as flexible_loads_entry,
    _meter as flexible_loads_meter,
    helpers,
)
from tests.integration.controllers.test_site_limits import (
    LIMIT_W,
    charge_fast,
    load_all,
    measure,
    site_entries,
)
from tests.integration.controllers.test_site_stop_and_restart import wallbox
from tests.integration.controllers.test_wallbox_manager import CURRENT, ENABLE

__all__ = ["helpers", "site_entries", "wallbox"]  # fixtures, shared

T0 = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)
LAST = "sensor.site_last_decision"
OUTPUTS = "sensor.site_driven_outputs"
HEADROOM = "sensor.site_grid_headroom"
PLAN = "sensor.site_planned_peak"


async def add_site(hass: HomeAssistant) -> str:
    """Add the site as a user does, from the menu; return its entry id."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "user"}
    )
    assert "site" in result["menu_options"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "site"}
    )
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"name": "Site"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    return result["result"].entry_id


async def minute(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, entries: list[MockConfigEntry]
) -> None:
    """Let a minute pass; the controllers step, then the site view."""
    freezer.tick(timedelta(minutes=1))
    measure(hass)
    for entry in entries:
        await entry.runtime_data.coordinator.async_refresh()
        await hass.async_block_till_done()
    measure(hass)


async def test_the_site_shows_owners_decisions_headroom_and_plan(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    site_entries: tuple[MockConfigEntry, MockConfigEntry],
) -> None:
    """A car held under the billed peak, then sent through it, then the stop."""
    freezer.move_to(T0)
    measure(hass)
    peak, car = site_entries
    await load_all(hass, site_entries)
    site = hass.config_entries.async_get_entry(await add_site(hass))
    assert site is not None
    entries = [peak, car, site]

    await charge_fast(hass, car)
    for _ in range(3):
        await minute(hass, freezer, entries)
    owners = hass.states.get(OUTPUTS).attributes["owners"]
    assert owners[SETPOINT] == "Peak shaving"
    assert owners[CURRENT] == "Wallbox"
    assert owners[ENABLE] == "Wallbox"
    assert int(hass.states.get(OUTPUTS).state) == len(owners)
    changes = hass.states.get(OUTPUTS).attributes["changes"]
    assert changes[CURRENT] == {
        "value": 7,
        "controller": "Wallbox",
        "layer": "peak_limit",
        "reason": "peak_limit",
        "at": T0.isoformat(),
    }
    assert changes[ENABLE]["layer"] == "peak_limit"
    # The battery, empty, recharges in the room the car leaves under the limit.
    assert changes[SETPOINT]["layer"] == "peak_limit"
    assert changes[SETPOINT]["reason"] == "headroom"
    last = hass.states.get(LAST)
    assert last.state == "peak_limit"
    assert last.attributes["output"] == SETPOINT
    # The car takes its room: what is left is under 690 W (one more amp).
    headroom = float(hass.states.get(HEADROOM).state)
    assert 0 <= headroom < 690
    cars = hass.states.get(PLAN).attributes["cars"]
    assert [(c["controller"], c["mode"], c["power"]) for c in cars] == [
        ("Wallbox", "fast", 7 * 3 * 230)
    ]

    await charge_fast(hass, car, above_peak_limit=True)
    await minute(hass, freezer, entries)
    changes = hass.states.get(OUTPUTS).attributes["changes"]
    assert (changes[CURRENT]["layer"], changes[CURRENT]["value"]) == (
        "user_request",
        16,
    )
    assert changes[CURRENT]["reason"] == "fast"
    # Then peak shaving, over the limit with an empty battery, stops recharging.
    last = hass.states.get(LAST)
    assert (last.state, last.attributes["output"], last.attributes["reason"]) == (
        "safety",
        SETPOINT,
        "battery_empty",
    )
    # Over the limit now, by the user's leave: no room is left.
    assert measure(hass) > LIMIT_W
    assert float(hass.states.get(HEADROOM).state) <= 0

    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    await site.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    last = hass.states.get(LAST)
    assert (last.state, last.attributes["reason"]) == ("safety", "safe_state")
    # Peak shaving gone, nobody measures the room: unavailable, not a stale figure.
    assert await hass.config_entries.async_unload(peak.entry_id)
    await site.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    assert hass.states.get(HEADROOM).state == "unavailable"
    assert SETPOINT not in hass.states.get(OUTPUTS).attributes["owners"]


async def test_there_is_one_site(hass: HomeAssistant) -> None:
    """A second site is refused, saying why."""
    await add_site(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "user"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "site"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "site_exists"


async def test_the_site_alone_shows_nothing_driven(hass: HomeAssistant) -> None:
    """Without controllers: no owners, no decision yet, no headroom."""
    await add_site(hass)
    assert hass.states.get(OUTPUTS).state == "0"
    assert hass.states.get(LAST).state == "unknown"
    assert hass.states.get(HEADROOM).state == "unavailable"
    assert hass.states.get(PLAN).state == "unknown"


@pytest.mark.usefixtures("helpers")
async def test_the_site_plan_carries_the_loads(hass: HomeAssistant) -> None:
    """Each flexible load, its reason and power, in the combined plan."""
    await flexible_loads_meter(hass, -2500)
    loads = flexible_loads_entry()
    loads.add_to_hass(hass)
    assert await hass.config_entries.async_setup(loads.entry_id)
    await hass.async_block_till_done()
    await add_site(hass)
    shown = {
        load["load"]: (load["controller"], load["reason"], load["power"])
        for load in hass.states.get(PLAN).attributes["loads"]
    }
    assert shown == {
        "Water heater": ("Flexible loads", "soaking_surplus", 2000),
        "Pool pump": ("Flexible loads", "waiting", 0),
    }
    owners = hass.states.get(OUTPUTS).attributes["owners"]
    assert owners["input_boolean.water_heater"] == "Flexible loads"
