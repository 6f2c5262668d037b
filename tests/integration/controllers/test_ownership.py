"""One owner per output: claims between controllers, and writes from outside."""

import logging

from homeassistant.components.input_number import DOMAIN as INPUT_NUMBER
from homeassistant.components.input_select import DOMAIN as INPUT_SELECT
from homeassistant.core import Context, HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, MockUser

from custom_components.energy_orchestrator.battery_manager.settings import (
    default_options,
)
from custom_components.energy_orchestrator.const import DOMAIN
from custom_components.energy_orchestrator.controller.outputs import OutputWriter
from custom_components.energy_orchestrator.controller.ownership import (
    OUTPUT_CONTESTED,
    OUTPUT_SHARED,
    OutputClaims,
    owned_outputs,
    owner_of,
)
from custom_components.energy_orchestrator.lib.control.battery_model import Chemistry
from tests.integration.controllers.test_battery_manager import (
    entry_data,
    set_battery,
    setup,
)

SETPOINT = "input_number.setpoint"
LOGGER = logging.getLogger(__name__)


@pytest.fixture
async def setpoint(hass: HomeAssistant) -> None:
    """A battery setpoint of another integration."""
    assert await async_setup_component(
        hass, INPUT_NUMBER, {INPUT_NUMBER: {"setpoint": {"min": -5000, "max": 5000}}}
    )


def writer_of(hass: HomeAssistant, entry_id: str, title: str) -> OutputWriter:
    """Return a controller's writer with its claims."""
    claims = OutputClaims(hass=hass, entry_id=entry_id, title=title, logger=LOGGER)
    return OutputWriter(hass, title, LOGGER, claims=claims)


def issue(
    hass: HomeAssistant, entry_id: str, code: str, entity_id: str
) -> ir.IssueEntry | None:
    """Return one output's repair issue of an entry, if raised."""
    return ir.async_get(hass).async_get_issue(DOMAIN, f"{entry_id}_{code}_{entity_id}")


@pytest.mark.usefixtures("setpoint")
async def test_a_second_controller_is_refused_until_the_owner_lets_go(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """The first to write holds the output; the other writes nothing and is told."""
    peak = writer_of(hass, "peak", "Peak shaving")
    battery = writer_of(hass, "battery", "House battery")
    now = dt_util.utcnow()
    assert await peak.async_write(SETPOINT, -1000, now)
    assert owner_of(hass, SETPOINT) == "Peak shaving"

    for _ in range(3):
        assert not await battery.async_write(SETPOINT, 2000, now)
    assert hass.states.get(SETPOINT).state == "-1000.0"
    shared = issue(hass, "battery", OUTPUT_SHARED, SETPOINT)
    assert shared is not None
    assert shared.severity is ir.IssueSeverity.ERROR
    assert shared.translation_placeholders == {
        "title": "House battery",
        "entity_id": SETPOINT,
        "error": "Peak shaving",
    }
    assert caplog.text.count("House battery: not writing input_number.setpoint") == 1

    peak.claims.async_release()  # the peak shaver's entry unloads
    assert owner_of(hass, SETPOINT) is None
    assert await battery.async_write(SETPOINT, 2000, now)
    assert hass.states.get(SETPOINT).state == "2000.0"
    assert issue(hass, "battery", OUTPUT_SHARED, SETPOINT) is None
    assert list(owned_outputs(hass, "battery")) == [SETPOINT]


@pytest.mark.usefixtures("setpoint")
async def test_a_write_from_outside_is_a_repair_issue_the_owners_are_not(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture, hass_admin_user: MockUser
) -> None:
    """A user's or an automation's write to an owned output is said; the owner's own is not."""
    peak = writer_of(hass, "peak", "Peak shaving")
    start = dt_util.utcnow()
    assert await peak.async_write(SETPOINT, -1000, start)
    # A keep-alive and a new value: the owner's writes never count.
    assert await peak.async_write(SETPOINT, -1500, start)
    await hass.async_block_till_done()
    assert issue(hass, "peak", OUTPUT_CONTESTED, SETPOINT) is None

    # Another output, not owned, is none of the controller's business.
    assert await async_setup_component(
        hass, INPUT_SELECT, {INPUT_SELECT: {"mode": {"options": ["A", "B"]}}}
    )
    await hass.services.async_call(
        INPUT_SELECT,
        "select_option",
        {"entity_id": "input_select.mode", "option": "B"},
        blocking=True,
        context=Context(user_id=hass_admin_user.id),
    )
    assert issue(hass, "peak", OUTPUT_CONTESTED, "input_select.mode") is None

    await hass.services.async_call(
        INPUT_NUMBER,
        "set_value",
        {"entity_id": [SETPOINT], "value": 0},
        blocking=True,
        context=Context(),
    )
    await hass.async_block_till_done()
    contested = issue(hass, "peak", OUTPUT_CONTESTED, SETPOINT)
    assert contested is not None
    assert contested.severity is ir.IssueSeverity.WARNING
    assert contested.translation_placeholders is not None
    assert contested.translation_placeholders["error"] == "input_number.set_value"
    assert "written by an automation or script from outside" in caplog.text

    await hass.services.async_call(
        INPUT_NUMBER,
        "increment",
        {"entity_id": SETPOINT},
        blocking=True,
        context=Context(user_id=hass_admin_user.id),
    )
    await hass.async_block_till_done()
    assert "written by a user from outside (input_number.increment)" in caplog.text

    peak.claims.async_release()
    assert issue(hass, "peak", OUTPUT_CONTESTED, SETPOINT) is None


async def test_a_running_battery_manager_reports_a_hand_set_inverter_mode(
    hass: HomeAssistant, hass_admin_user: MockUser
) -> None:
    """The manager's own mode changes raise nothing; a user's does, until it unloads."""
    assert await async_setup_component(
        hass,
        INPUT_SELECT,
        {INPUT_SELECT: {"inverter_mode": {"options": ["Standby", "Charge", "Sell"]}}},
    )
    assert await async_setup_component(
        hass, "input_boolean", {"input_boolean": {"grid_charge": {}}}
    )
    entry = MockConfigEntry(
        domain=DOMAIN,
        minor_version=2,
        title="House battery",
        data=entry_data(),
        options=default_options(Chemistry.LFP, 16, 100),
    )
    set_battery(hass, 53.0, 0.0, soc=50)
    await setup(hass, entry)
    mode = "input_select.inverter_mode"
    assert hass.states.get(mode).state == "Charge"
    assert owner_of(hass, mode) == "House battery"
    assert issue(hass, entry.entry_id, OUTPUT_CONTESTED, mode) is None

    await hass.services.async_call(
        INPUT_SELECT,
        "select_option",
        {"entity_id": mode, "option": "Sell"},
        blocking=True,
        context=Context(user_id=hass_admin_user.id),
    )
    await hass.async_block_till_done()
    assert issue(hass, entry.entry_id, OUTPUT_CONTESTED, mode) is not None

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    # At rest, as its unload leaves it; the output is free, the issue gone.
    assert hass.states.get(mode).state == "Standby"
    assert owner_of(hass, mode) is None
    assert issue(hass, entry.entry_id, OUTPUT_CONTESTED, mode) is None
