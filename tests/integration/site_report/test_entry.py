"""The site report entry: its form, sensors, actions and diagnostics, on a real recorder."""

import csv
from datetime import datetime
import io
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    snapshot_platform,
)
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import (
    ClientSessionGenerator,
    RecorderInstanceContextManager,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.energy_orchestrator.const import CONF_KIND, DOMAIN
from eo_lab import cli

from ..snapshots.conftest import SnapshotExtension
from .month import PURCHASES, SITE, TIME_ZONE

# 20 March 10:30 in Nairobi: the recorder has compiled up to 10:00.
NOW = datetime(2026, 3, 20, 10, 30, tzinfo=SITE)
DATA = {
    CONF_KIND: "site_report",
    "name": "Village grid",
    "pv": ["sensor.pv_a", "sensor.pv_b"],
    "load": "sensor.load",
    "battery_charge": "sensor.battery_in",
    "battery_discharge": "sensor.battery_out",
    "soc": "sensor.soc",
    "supply": "sensor.supply",
    "supply_threshold": 0.0,
}


@pytest.fixture
def mock_recorder_before_hass(
    async_test_recorder: RecorderInstanceContextManager,
) -> None:
    """Prepare the recorder before Home Assistant."""


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Serialize as Home Assistant core does, beside this module."""
    return snapshot.use_extension(SnapshotExtension)


@pytest.fixture
async def site(
    hass: HomeAssistant, recorder_mock: Recorder, freezer: FrozenDateTimeFactory
) -> MockConfigEntry:
    """Return a site report entry, set up on the known month (the sample) at NOW."""
    await hass.config.async_set_time_zone(TIME_ZONE)
    freezer.move_to(NOW)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Village grid",
        entry_id="site_report",
        minor_version=2,
        data=DATA,
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def _write(hass: HomeAssistant, name: str, text: str) -> None:
    """Put a file into the integration's folder under the configuration folder."""
    path = Path(hass.config.path(DOMAIN, name))

    def write() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    await hass.async_add_executor_job(write)


async def test_the_form_asks_for_the_sites_entities(hass: HomeAssistant) -> None:
    """The menu leads to the form; a report of no entity is refused."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert "site_report" in result["menu_options"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "site_report"}
    )
    assert result["step_id"] == "site_report"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"name": "Village grid", "supply_threshold": 0}
    )
    assert result["errors"] == {"base": "no_site_entities"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "name": "Village grid",
            "pv": ["sensor.pv_a"],
            "load": "sensor.load",
            "supply_threshold": 0,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Village grid"
    assert result["data"] == {
        CONF_KIND: "site_report",
        "pv": ["sensor.pv_a"],
        "load": "sensor.load",
        "supply_threshold": 0,
    }


async def test_without_the_recorder_the_entry_says_so(hass: HomeAssistant) -> None:
    """No recorder, no statistics: the entry fails to set up, saying why."""
    entry = MockConfigEntry(
        domain=DOMAIN, title="Village grid", minor_version=2, data=DATA
    )
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert "turn the recorder on" in (entry.reason or "")


async def test_sensors_show_today_and_this_month(
    hass: HomeAssistant, site: MockConfigEntry
) -> None:
    """Figures up to 10:00 on 20 March, as month.py's hand figures give them."""

    def value(name: str) -> str:
        state = hass.states.get(f"sensor.village_grid_{name}")
        assert state is not None, name
        return state.state

    # Today: 09:00 is the one sunny hour compiled: 1.5 + 0.5 kWh; 10 h of load.
    assert value("pv_energy_today") == "2.0"
    assert value("load_energy_today") == "10.0"
    # The month: 19 days and 10 hours; pv_b lacks 6 hours of 10 March.
    assert value("pv_energy_this_month") == str(19 * 12 + 1.5 + 18 * 4 + 1 + 0.5)
    assert value("load_energy_this_month") == str(float(19 * 24 + 10))
    assert value("battery_round_trip_this_month") == "90.0"
    assert value("outage_hours_this_month") == "3"
    assert value("incomplete_hours_this_month") == "6"
    assert value("energy_purchased_this_month") == "unknown"
    assert value("active_customers") == "unknown"
    state = hass.states.get("sensor.village_grid_pv_energy_today")
    assert state is not None
    last_reset = datetime.fromisoformat(state.attributes["last_reset"])
    assert last_reset == datetime(2026, 3, 20, tzinfo=SITE)


async def test_export_report_answers_what_it_writes(
    hass: HomeAssistant, site: MockConfigEntry, recorder_db_url: str, tmp_path: Path
) -> None:
    """The response's rows are the CSV's, and eo report writes the same file."""
    response: Any = await hass.services.async_call(
        DOMAIN,
        "export_report",
        {"config_entry_id": site.entry_id, "from": "2026-03-01", "to": "2026-03-12"},
        blocking=True,
        return_response=True,
    )
    written = await hass.async_add_executor_job(Path(response["file"]).read_text)
    assert response["file"] == hass.config.path(
        DOMAIN, "reports", "site_report_2026-03-01_2026-03-12_day.csv"
    )
    rows = list(csv.DictReader(io.StringIO(written)))
    assert len(rows) == len(response["rows"]) == 12
    for from_csv, answered in zip(rows, response["rows"], strict=True):
        assert from_csv.keys() == answered.keys()
        for key, text in from_csv.items():
            if isinstance(answered[key], float):
                assert float(text) == pytest.approx(answered[key], abs=1e-6), key
            elif isinstance(answered[key], bool):
                assert text == str(answered[key]).lower()
            else:
                assert text == ("" if answered[key] is None else str(answered[key])), (
                    key
                )
    assert response["rows"][9]["flags"] == "sensor.pv_b missing 6 h"
    out = tmp_path / "eo.csv"
    entities = "pv=sensor.pv_a,pv=sensor.pv_b,load=sensor.load,battery_charge=sensor.battery_in,battery_discharge=sensor.battery_out,soc=sensor.soc,supply=sensor.supply"
    argv = [
        "report", "--db", recorder_db_url, "--entities", entities, "--from", "2026-03-01",
        "--to", "2026-03-12", "--timezone", TIME_ZONE, "--out", str(out),
    ]  # fmt: skip
    assert await hass.async_add_executor_job(cli.main, argv) == 0
    assert await hass.async_add_executor_job(out.read_text) == written


async def test_export_report_by_hour_as_json_stops_at_the_last_compiled_hour(
    hass: HomeAssistant, site: MockConfigEntry
) -> None:
    """Today by hour: the hours up to 10:00, written as JSON."""
    response: Any = await hass.services.async_call(
        DOMAIN,
        "export_report",
        {
            "config_entry_id": site.entry_id,
            "from": "2026-03-20",
            "to": "2026-03-20",
            "resolution": "hour",
            "format": "json",
        },
        blocking=True,
        return_response=True,
    )
    assert response["file"].endswith("site_report_2026-03-20_2026-03-20_hour.json")
    assert [row["start"][11:16] for row in response["rows"]][-1] == "09:00"
    assert len(response["rows"]) == 10
    with pytest.raises(ServiceValidationError, match="before its first day"):
        await hass.services.async_call(
            DOMAIN,
            "export_report",
            {
                "config_entry_id": site.entry_id,
                "from": "2026-03-20",
                "to": "2026-03-19",
            },
            blocking=True,
            return_response=True,
        )


async def test_import_purchases_counts_repeats_once_and_refuses_bad_files(
    hass: HomeAssistant, site: MockConfigEntry
) -> None:
    """A good file is kept, again adds nothing; a bad one names its line, keeps nothing."""
    await _write(hass, "purchases.csv", PURCHASES)
    call = {"config_entry_id": site.entry_id, "path": f"{DOMAIN}/purchases.csv"}
    response = await hass.services.async_call(
        DOMAIN, "import_purchases", call, blocking=True, return_response=True
    )
    assert response == {"read": 4, "duplicates": 1, "added": 4, "kept": 4}
    response = await hass.services.async_call(
        DOMAIN, "import_purchases", call, blocking=True, return_response=True
    )
    assert response == {"read": 4, "duplicates": 1, "added": 0, "kept": 4}
    await hass.async_block_till_done()
    # Bought by 20 March 10:00: 50 + 200 kWh. Active: C1 (30 days from
    # 1 March); C2's 10 days lapsed on 15 March, C4 buys on the 31st.
    assert (
        hass.states.get("sensor.village_grid_energy_purchased_this_month").state
        == "250.0"
    )  # type: ignore[union-attr]
    assert hass.states.get("sensor.village_grid_active_customers").state == "1"  # type: ignore[union-attr]

    await _write(
        hass,
        "bad.csv",
        "customer_id,time,energy_wh\nC9,2026-03-02T08:00,500\nC9,soon,500\n",
    )
    with pytest.raises(ServiceValidationError) as refused:
        await hass.services.async_call(
            DOMAIN,
            "import_purchases",
            {"config_entry_id": site.entry_id, "path": f"{DOMAIN}/bad.csv"},
            blocking=True,
            return_response=True,
        )
    assert refused.value.translation_key == "purchases_invalid"
    assert "line 3: time 'soon' is not an ISO 8601 time" in str(
        refused.value.translation_placeholders
    )
    coordinator = site.runtime_data.coordinator
    assert "C9" not in {p.customer_id for p in coordinator.purchases.purchases}

    with pytest.raises(ServiceValidationError) as refused:
        await hass.services.async_call(
            DOMAIN,
            "import_purchases",
            {"config_entry_id": site.entry_id, "path": "/etc/passwd"},
            blocking=True,
            return_response=True,
        )
    assert refused.value.translation_key == "purchases_path_not_allowed"


async def test_purchases_survive_a_restart(
    hass: HomeAssistant, site: MockConfigEntry
) -> None:
    """The purchases imported are kept in storage and loaded again."""
    await _write(hass, "purchases.csv", PURCHASES)
    await hass.services.async_call(
        DOMAIN,
        "import_purchases",
        {"config_entry_id": site.entry_id, "path": f"{DOMAIN}/purchases.csv"},
        blocking=True,
        return_response=True,
    )
    assert await hass.config_entries.async_reload(site.entry_id)
    await hass.async_block_till_done()
    assert len(site.runtime_data.coordinator.purchases.purchases) == 4


async def test_options_change_the_entities_without_re_adding(
    hass: HomeAssistant, site: MockConfigEntry
) -> None:
    """Configure takes the entities as they are and reloads the entry with new ones."""
    month = site.runtime_data.coordinator.data.month
    assert month is not None
    assert month.pv_kwh == pytest.approx(19 * 12 + 1.5 + 18 * 4 + 1 + 0.5)
    result = await hass.config_entries.options.async_init(site.entry_id)
    assert result["step_id"] == "site_report"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"supply_threshold": 0}
    )
    assert result["errors"] == {"base": "no_site_entities"}
    # Inverter B goes; the supply threshold is raised.
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            "pv": ["sensor.pv_a"],
            "load": "sensor.load",
            "soc": "sensor.soc",
            "supply": "sensor.supply",
            "supply_threshold": 100,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert site.data == {
        CONF_KIND: "site_report",
        "pv": ["sensor.pv_a"],
        "load": "sensor.load",
        "soc": "sensor.soc",
        "supply": "sensor.supply",
        "supply_threshold": 100.0,
    }
    assert site.state is ConfigEntryState.LOADED
    coordinator = site.runtime_data.coordinator
    assert coordinator.entities.pv == ("sensor.pv_a",)
    assert coordinator.settings.supply_threshold == 100.0
    month = coordinator.data.month
    assert month is not None
    assert month.pv_kwh == pytest.approx(19 * 12 + 1.5)  # inverter A alone
    assert month.battery_charged_kwh is None


async def test_entities_and_diagnostics_snapshot(
    hass: HomeAssistant,
    site: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    hass_client: ClientSessionGenerator,
    snapshot: SnapshotAssertion,
) -> None:
    """The site report's sensors and its diagnostics, as a user would see them."""
    await snapshot_platform(hass, entity_registry, snapshot, site.entry_id)
    assert await get_diagnostics_for_config_entry(hass, hass_client, site) == snapshot(
        name="diagnostics"
    )
