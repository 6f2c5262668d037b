"""A wallbox manager's deadline session in the flexible loads' plan (issue 24).

The wallbox manager posts its deadline session (what it still needs, by
when, its most power, what the car takes now) the way the battery manager
posts its battery; the flexible loads entry places it in its plan, and
leaves the car out of its forecast of the site. The manager still drives
the car.
"""

from datetime import UTC, datetime, timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.energy_orchestrator.const import CONF_KIND, DOMAIN
from custom_components.energy_orchestrator.controller.battery_plan import (
    async_plannable_cars,
)
from tests.integration.controllers.peak_and_car import (
    report_meters,
    wallbox_manager_entry,
)
from tests.integration.controllers.test_car_room_ahead import charge_by
from tests.integration.controllers.test_flexible_loads import give_a_day
from tests.integration.controllers.test_site_view import add_site
from tests.integration.controllers.test_wallbox_manager import GRID, wallbox

__all__ = ["wallbox"]  # the wallbox fixture, shared

EVENING = datetime(2026, 12, 7, 20, tzinfo=UTC)
DEPARTS = EVENING + timedelta(hours=11)
HOUSE_W = 400.0


def _loads_entry() -> MockConfigEntry:
    """Return a flexible loads entry on the wallbox's meter, cheap from midnight."""
    return MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        title="Flexible loads",
        data={CONF_KIND: "flexible_loads", "grid_power_entity": GRID},
        options={
            "import_price": 0.2,
            "export_price": 0.05,
            "netting_minutes": "60",
            "safe_state": "off",
            "time_of_use": "00:00 0.10, 06:00 0.30",
        },
    )


async def _step(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, *entries: MockConfigEntry
) -> None:
    """Let 15 s pass; the meters report; the entries step in turn."""
    freezer.tick(timedelta(seconds=15))
    for entry in entries:
        await entry.runtime_data.coordinator.async_refresh()
        await hass.async_block_till_done()


@pytest.mark.usefixtures("wallbox")
async def test_the_loads_plan_places_the_deadline_car(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """The session is posted, planned in the cheap hours by its departure, withdrawn."""
    await hass.config.async_set_time_zone("UTC")
    freezer.move_to(EVENING)
    report_meters(hass, HOUSE_W, 0.0)
    car, loads = wallbox_manager_entry(), _loads_entry()
    for entry in (car, loads):
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
    coordinator = loads.runtime_data.coordinator
    give_a_day(coordinator, EVENING, HOUSE_W)

    await charge_by(hass, car, 6.0, DEPARTS)
    await _step(hass, freezer, car)
    (posted,) = async_plannable_cars(hass, freezer.time_to_freeze.replace(tzinfo=UTC))
    assert posted.need_wh == pytest.approx(6000.0, abs=50.0)
    assert posted.departs == DEPARTS
    assert posted.max_power_w == pytest.approx(16 * 230 * 3)

    # The car takes 2 kW: the meter shows it, the forecast leaves it out.
    report_meters(hass, HOUSE_W + 2000.0, 2000.0)
    await _step(hass, freezer, car, loads)
    controller = coordinator.controller
    (session,) = controller.sessions
    assert session.departs == DEPARTS
    assert session.charging_w == pytest.approx(2000.0)
    plan = controller.plan
    assert plan is not None
    planned = plan.sessions[car.entry_id]
    assert sum(planned) * 0.25 == pytest.approx(session.need_wh, abs=1.0)
    # In the cheap hours from midnight, nothing after the departure.
    cheap = plan.at(EVENING.replace(hour=0) + timedelta(days=1))
    assert cheap is not None
    assert sum(planned[:cheap]) == pytest.approx(0.0, abs=1.0)
    assert max(planned[plan.at(DEPARTS) or 0 :]) == 0.0
    now = freezer.time_to_freeze.replace(tzinfo=UTC)
    slot = coordinator.load_history.slot_of(now)
    assert coordinator.load_history.mean(slot) == pytest.approx(HOUSE_W, abs=1.0)
    # The site device draws the car where the plan places it.
    site = hass.config_entries.async_get_entry(await add_site(hass))
    assert site is not None
    await site.runtime_data.coordinator.async_refresh()
    await hass.async_block_till_done()
    (drawn,) = hass.states.get("sensor.site_planned_peak").attributes["cars"]
    assert drawn["controller"] == car.title
    assert [row["power"] for row in drawn["plan"]] == [round(p) for p in planned]

    # The session stopped: the post is withdrawn, the plan drops the car.
    await hass.services.async_call(
        DOMAIN, "stop_charging", {"config_entry_id": car.entry_id}, blocking=True
    )
    await _step(hass, freezer, car, loads)
    assert async_plannable_cars(hass, freezer.time_to_freeze.replace(tzinfo=UTC)) == []
    assert controller.sessions == ()
