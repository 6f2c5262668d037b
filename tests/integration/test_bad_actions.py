"""Every action given nonsense: a clear error, never a traceback.

Each action of services.yaml is called with every field in turn set to
nonsense (wrong types, out of range, NaN, infinity, huge, empty), with a
field missing, an unknown field, and with entries it is not for. Home
Assistant shows the user a schema error (``probatio.Invalid``) or a
``ServiceValidationError``/``HomeAssistantError``; anything else is a 500
in the REST API and "Unknown error" in the UI. The controllers keep
running whatever they were sent, and nothing is logged as an error.
"""

from collections.abc import Iterator
from datetime import datetime
import json
import logging
import math
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.input_boolean import DOMAIN as INPUT_BOOLEAN
from homeassistant.components.input_number import DOMAIN as INPUT_NUMBER
from homeassistant.components.input_select import DOMAIN as INPUT_SELECT
from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.setup import async_setup_component
from homeassistant.util import yaml as yaml_util
import probatio
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import (
    RecorderInstanceContextManager,
)

from custom_components.energy_orchestrator.battery_manager.settings import (
    default_options,
)
from custom_components.energy_orchestrator.const import CONF_KIND, DOMAIN
from custom_components.energy_orchestrator.lib.control.battery_model import Chemistry

from .controllers import (
    test_battery_manager as battery,
    test_flexible_loads as loads,
    test_peak_shaving_entry as peak,
    test_wallbox_manager as wallbox,
)
from .site_report.month import TIME_ZONE
from .site_report.test_entry import DATA as SITE_REPORT_DATA, NOW

PACKAGE = Path(__file__).parents[2] / "custom_components" / DOMAIN
ACTIONS: dict[str, Any] = yaml_util.load_yaml_dict(str(PACKAGE / "services.yaml"))
EXCEPTIONS = json.loads((PACKAGE / "strings.json").read_text())["exceptions"]
# The kind of entry each action is for.
KIND_OF_ACTION = {
    "set_battery_mode": "battery_manager",
    "calibrate_soc": "battery_manager",
    "set_battery_thresholds": "battery_manager",
    "start_peak_shaving": "peak_shaving",
    "stop_peak_shaving": "peak_shaving",
    "replan_peak_shaving": "peak_shaving",
    "reset_billed_peak": "peak_shaving",
    "set_grid_limits": "peak_shaving",
    "start_charging": "wallbox_manager",
    "stop_charging": "wallbox_manager",
    "set_charger_phases": "wallbox_manager",
    "export_report": "site_report",
    "import_purchases": "site_report",
    "start_flexible_loads": "flexible_loads",
    "stop_flexible_loads": "flexible_loads",
    "boost_load": "flexible_loads",
    "set_load_need": "flexible_loads",
}
# A sensible call of each action: the sweep spoils one field at a time.
GOOD: dict[str, dict[str, Any]] = {
    "set_battery_mode": {"mode": "sell", "duration": {"minutes": 30}},
    "calibrate_soc": {"soc": 50},
    "set_battery_thresholds": {
        "soc_floor": 20,
        "soc_ceiling": 90,
        "min_rest_minutes": 5,
    },
    "set_grid_limits": {
        "import_limit": 3000,
        "export_limit": 2000,
        "duration": {"hours": 1},
    },
    "start_charging": {
        "mode": "deadline",
        "target_energy": 10,
        "deadline": "2026-06-02T07:00:00",
    },
    "set_charger_phases": {"phases": "one"},
    "export_report": {
        "from": "2026-03-01",
        "to": "2026-03-02",
        "resolution": "day",
        "format": "json",
    },
    "import_purchases": {"path": "energy_orchestrator/purchases.csv"},
    "boost_load": {
        "entity_id": "input_boolean.water_heater",
        "duration": {"minutes": 30},
    },
    "set_load_need": {"entity_id": "input_boolean.water_heater", "energy": 3},
}
NONSENSE: list[Any] = [
    None,
    "",
    " ",
    "nonsense",
    "x" * 100_000,
    True,
    0,
    -1,
    -(10**30),
    10**30,
    10**400,
    1e308,
    -1e308,
    math.nan,
    math.inf,
    -math.inf,
    "nan",
    "inf",
    "-inf",
    "1e999",
    [],
    ["a"] * 1000,
    {},
    {"days": 10**12},
    {"days": math.nan},
    {"days": -5},
    {"seconds": 1e300},
    "99:99:99",
    "-1:00:00",
    "0001-01-01",
    "9999-12-31",
    "0001-01-01T00:00:00",
    "9999-12-31T23:59:59",
    "2026-13-45",
    "../../../etc/passwd",
    "/etc/passwd",
    "\x00",
    "energy_orchestrator/\x00.csv",
    "energy_orchestrator/" + "x" * 5000,
    "energy_orchestrator",
]
SITE_REPORT_ACTIONS = {"export_report", "import_purchases"}
BAD_ENTRY_IDS: list[Any] = [None, "", "nope", 7, [], {}, "x" * 100_000]


def _calls(action: str, entries: dict[str, str]) -> Iterator[dict[str, Any]]:
    """Return the nonsense calls of an action: every field spoilt every way."""
    own = entries[KIND_OF_ACTION[action]]
    good = {"config_entry_id": own, **GOOD.get(action, {})}
    for entry_id in BAD_ENTRY_IDS:
        yield {**good, "config_entry_id": entry_id}
    for kind, entry_id in entries.items():
        if kind != KIND_OF_ACTION[action]:
            yield {**good, "config_entry_id": entry_id}
    for field in ACTIONS[action].get("fields", {}):
        yield {key: value for key, value in good.items() if key != field}
        for value in NONSENSE:
            yield {**good, field: value}
    yield {**good, "unknown_field": 1}


def _clear(err: Exception) -> bool:
    """Return whether the user is shown what was wrong (not "Unknown error")."""
    if isinstance(err, probatio.Invalid):
        return True
    if not isinstance(err, HomeAssistantError):
        return False
    if err.translation_domain == DOMAIN:
        return err.translation_key in EXCEPTIONS
    # Home Assistant's own (an unknown or unloaded entry): translated there.
    return err.translation_key is not None


@pytest.fixture
def mock_recorder_before_hass(
    async_test_recorder: RecorderInstanceContextManager,
) -> None:
    """Prepare the recorder before Home Assistant (the site report needs it)."""


@pytest.fixture
async def controllers(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> dict[str, str]:
    """Set up a controller of each kind; return the ids of every kind's entry.

    The site report (it needs the recorder) and a device are added, not set up.
    """
    await hass.config.async_set_time_zone(TIME_ZONE)
    freezer.move_to(NOW)
    for domain, config in (
        (
            INPUT_SELECT,
            {
                "inverter_mode": {"options": ["Standby", "Charge", "Sell"]},
                "wallbox_phases": {"options": ["1", "3"]},
            },
        ),
        (
            INPUT_BOOLEAN,
            {
                "grid_charge": {},
                "wallbox_charging": {},
                "pv_bundle": {},
                "water_heater": {},
                "pool_pump": {},
            },
        ),
        (
            INPUT_NUMBER,
            {
                "battery_setpoint": {"min": -5000, "max": 5000, "step": 1},
                "wallbox_current": {"min": 0, "max": 32},
            },
        ),
    ):
        assert await async_setup_component(hass, domain, {domain: config})
    battery.set_battery(hass, 53.0, 0.0, soc=50)
    hass.states.async_set(loads.METER, "-500", {"unit_of_measurement": "W"})
    peak.report(hass, 1000, 0)
    options = default_options(Chemistry.LFP, 16, 100)
    made = {
        "battery_manager": MockConfigEntry(
            domain=DOMAIN,
            minor_version=2,
            title="House battery",
            data=battery.entry_data(),
            options=options,
        ),
        "peak_shaving": MockConfigEntry(
            domain=DOMAIN,
            minor_version=2,
            title="Peak shaving",
            data={
                CONF_KIND: "peak_shaving",
                "grid_power_entity": peak.GRID,
                "battery_power_entity": peak.BATTERY,
                "battery_soc_entity": peak.SOC,
                "battery_setpoint_entity": peak.SETPOINT,
                "invert_setpoint": False,
            },
            options={
                "battery_capacity_kwh": 10.0,
                "battery_max_kw": 5.0,
                "battery_soc_min": 10.0,
                "battery_soc_max": 100.0,
                "import_limit_w": 3000.0,
                "billing_interval_minutes": "15",
            },
        ),
        "wallbox_manager": MockConfigEntry(
            domain=DOMAIN,
            minor_version=2,
            title="Wallbox",
            data={
                CONF_KIND: "wallbox_manager",
                "grid_power_entity": wallbox.GRID,
                "ev_power_entity": wallbox.EV,
                "charger_current_entity": wallbox.CURRENT,
                "charger_enable_entity": wallbox.ENABLE,
                "charger_phases_entity": wallbox.PHASES,
                "pv_routing_entity": "input_boolean.pv_bundle",
            },
            options={
                "min_current_a": 6.0,
                "max_current_a": 16.0,
                "min_phase_switch_minutes": 10.0,
                "charge_now_mode": "solar",
            },
        ),
        "flexible_loads": loads._entry(),
        "site_report": MockConfigEntry(
            domain=DOMAIN, title="Village grid", minor_version=2, data=SITE_REPORT_DATA
        ),
        "device": MockConfigEntry(
            domain=DOMAIN,
            minor_version=2,
            title="Meter",
            data={CONF_KIND: "device", "connection": "tcp"},
        ),
    }
    for kind, entry in made.items():
        entry.add_to_hass(hass)
        if kind not in {"device", "site_report"}:
            assert await hass.config_entries.async_setup(entry.entry_id), kind
    await hass.async_block_till_done()
    return {kind: entry.entry_id for kind, entry in made.items()}


@pytest.fixture
async def site_report(
    hass: HomeAssistant, recorder_mock: Recorder, controllers: dict[str, str]
) -> dict[str, str]:
    """Set up the site report too (on the known month); return every entry's id."""
    assert await hass.config_entries.async_setup(controllers["site_report"])
    await hass.async_block_till_done()
    return controllers


async def _sweep(
    hass: HomeAssistant,
    action: str,
    entries: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Call the action with every nonsense; every answer is clear, nothing breaks."""
    caplog.set_level(logging.ERROR)
    loaded = {
        entry.entry_id: entry.state for entry in hass.config_entries.async_entries()
    }
    unclear: list[str] = []
    calls = 0
    for data in _calls(action, entries):
        calls += 1
        try:
            await hass.services.async_call(
                DOMAIN,
                action,
                data,
                blocking=True,
                return_response=action in SITE_REPORT_ACTIONS,
            )
        except Exception as err:  # what the user would be shown is the test
            if not _clear(err):
                shown = {k: repr(v)[:40] for k, v in data.items()}
                unclear.append(f"{shown}: {type(err).__name__}: {err}"[:300])
        await hass.async_block_till_done()
    assert calls > len(BAD_ENTRY_IDS) + len(NONSENSE)
    assert not unclear, "\n".join(unclear)
    assert {
        entry.entry_id: entry.state for entry in hass.config_entries.async_entries()
    } == loaded
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [
        r.getMessage()[:200] for r in caplog.records
    ]


@pytest.mark.parametrize("action", sorted(set(ACTIONS) - SITE_REPORT_ACTIONS))
async def test_nonsense_to_a_controller_gets_a_clear_error(
    hass: HomeAssistant,
    controllers: dict[str, str],
    action: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every nonsense call of a controller's action is refused clearly or harmless."""
    await _sweep(hass, action, controllers, caplog)


@pytest.mark.parametrize("action", sorted(SITE_REPORT_ACTIONS))
async def test_nonsense_to_the_site_report_gets_a_clear_error(
    hass: HomeAssistant,
    site_report: dict[str, str],
    action: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every nonsense call of the site report's actions is refused clearly."""
    await _sweep(hass, action, site_report, caplog)


def test_every_action_is_swept() -> None:
    """A new action joins the sweep: the test knows its kind of entry."""
    assert set(ACTIONS) == set(KIND_OF_ACTION)
    assert datetime.fromisoformat(GOOD["start_charging"]["deadline"])


@pytest.mark.parametrize(
    ("action", "data"),
    [
        ("calibrate_soc", {"soc": 10**400}),
        ("set_battery_thresholds", {"min_rest_minutes": 10**400}),
        ("set_battery_mode", {"mode": "sell", "duration": math.inf}),
        ("set_battery_mode", {"mode": "sell", "duration": {"seconds": 1e300}}),
        ("set_grid_limits", {"import_limit": 10**400}),
        ("set_grid_limits", {"duration": 10**30, "import_limit": 1}),
        ("start_charging", {"mode": "fast", "target_energy": 10**400}),
        ("start_charging", {"mode": "deadline", "deadline": "0001-01-01T00:00:00"}),
    ],
)
async def test_a_number_or_time_past_its_type_is_a_schema_error(
    hass: HomeAssistant, controllers: dict[str, str], action: str, data: dict[str, Any]
) -> None:
    """Found by the sweep: these raised OverflowError, an unknown error to the user.

    probatio compiles a schema after its 50th call, and the compiled
    ``Coerce(float)`` lets OverflowError through: the call is repeated past that.
    """
    entry_id = controllers[KIND_OF_ACTION[action]]
    field = next(key for key in data if key != "mode")
    for _ in range(60):
        with pytest.raises(probatio.Invalid, match=field):
            await hass.services.async_call(
                DOMAIN, action, {"config_entry_id": entry_id, **data}, blocking=True
            )


@pytest.mark.parametrize(
    ("action", "data", "key"),
    [
        ("export_report", {"from": "0001-01-01", "to": "0001-01-02"}, "report_failed"),
        (
            "export_report",
            {"from": "2025-03-01", "to": "2026-03-02"},
            "report_period_too_long",
        ),
        (
            "import_purchases",
            {"path": "energy_orchestrator/\x00.csv"},
            "purchases_unreadable",
        ),
    ],
)
async def test_a_report_past_the_calendar_or_a_nul_in_a_path_says_why(
    hass: HomeAssistant,
    site_report: dict[str, str],
    action: str,
    data: dict[str, Any],
    key: str,
) -> None:
    """Found by the sweep: OverflowError, a report summing 2,000 years of hours, ValueError."""
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            action,
            {"config_entry_id": site_report["site_report"], **data},
            blocking=True,
            return_response=True,
        )
    assert err.value.translation_key == key
