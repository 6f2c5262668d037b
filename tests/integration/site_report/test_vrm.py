"""The VRM backfill against a local server replaying VRM's API, into a real recorder."""

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.recorder import get_instance
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import (
    RecorderInstanceContextManager,
)
from victron_vrm import VictronVRMClient

from custom_components.energy_orchestrator.const import CONF_KIND, DOMAIN
from custom_components.energy_orchestrator.lib.reports.statistics import Role
from custom_components.energy_orchestrator.lib.reports.vrm import statistic_id

from .vrm_server import OFFLINE, SITE_ID, TOKEN, VrmReplay, start_vrm

# 20 March 10:30 UTC: hours up to 09:00 have settled.
NOW = datetime(2026, 3, 20, 10, 30, tzinfo=UTC)
FIRST = datetime(2026, 1, 10, 5, tzinfo=UTC)  # CREATED's hour
END = datetime(2026, 3, 20, 9, tzinfo=UTC)
# By hand: VRM has 10 January 05:00 to 12 January (3 days, less 3 hours
# offline on the 11th) and 18 March to 20 March 09:00 (2 days and 9 hours).
# PV: 13.5 kWh a day (1.5 an hour from 06:00 to 14:59), 4.5 on 20 March.
PV_KWH = 3 * 13.5 - 3 * 1.5 + 2 * 13.5 + 3 * 1.5
# The load: the PV's 9 kWh to the consumers and the battery's 2.4 a day.
LOAD_KWH = 3 * 11.4 - 3 * 1.0 + 2 * 11.4 + 3 * 1.0
CHARGED_KWH = 3 * 4.5 - 3 * 0.5 + 2 * 4.5 + 3 * 0.5
HOURS = (3 * 24 - 5 - 3) + (2 * 24 + 9)
VRM_DATA = {
    CONF_KIND: "site_report",
    "vrm_backfill": True,
    "vrm_api_token": TOKEN,
    "vrm_site_id": SITE_ID,
    "vrm_sources": True,
    "supply_threshold": 0.0,
}


@pytest.fixture
def mock_recorder_before_hass(
    async_test_recorder: RecorderInstanceContextManager,
) -> None:
    """Prepare the recorder before Home Assistant."""


@pytest.fixture
def recorder_db_url() -> str:
    """Return the recorder's database: an empty one in memory (no month)."""
    return "sqlite://"


@pytest.fixture(autouse=True)
def quiet_sql() -> Iterator[None]:
    """Log no SQL: the recorder's thousands of imported rows are not the subject."""
    engine = logging.getLogger("sqlalchemy.engine")
    level = engine.level
    engine.setLevel(logging.WARNING)
    yield
    engine.setLevel(level)


@pytest.fixture
async def vrm(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[VrmReplay]:
    """Start the replaying server; point the victron-vrm library at it."""
    replay = VrmReplay()
    runner, base_url = await start_vrm(replay)
    monkeypatch.setattr("victron_vrm.client.BASE_URL", base_url)
    # The library backs off between its tries by the event loop's clock,
    # which the frozen time holds still: here it tries again at once.
    monkeypatch.setattr(VictronVRMClient, "_backoff_delay", lambda _self, _try: 0)
    yield replay
    await runner.cleanup()


@pytest.fixture
async def ready(
    hass: HomeAssistant, recorder_mock: Recorder, freezer: FrozenDateTimeFactory
) -> HomeAssistant:
    """Return Home Assistant in UTC at NOW, with its recorder."""
    await hass.config.async_set_time_zone("UTC")
    freezer.move_to(NOW)
    return hass


async def _add_site(hass: HomeAssistant, data: dict[str, Any]) -> MockConfigEntry:
    """Set up a site report and wait for its first backfill to be recorded."""
    entry = MockConfigEntry(
        domain=DOMAIN, title="Village grid", minor_version=2, data=data
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await _settled(hass)
    return entry


async def _settled(hass: HomeAssistant) -> None:
    """Wait for the backfill's run and the recorder's imports."""
    await hass.async_block_till_done(wait_background_tasks=True)
    await async_wait_recording_done(hass)


async def _rows(hass: HomeAssistant, metric: Role) -> list[dict[str, Any]]:
    """Return a metric's hourly rows in the recorder."""
    ident = statistic_id(SITE_ID, metric)
    rows = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        FIRST - timedelta(days=1),
        NOW + timedelta(days=1),
        {ident},
        "hour",
        None,
        {"sum", "state"},
    )
    return list(rows.get(ident, []))


def _hour(row: dict[str, Any]) -> datetime:
    """Return a row's hour."""
    return datetime.fromtimestamp(row["start"], UTC)


async def _assert_whole_history(hass: HomeAssistant) -> None:
    """Every hour VRM has is in the recorder once, its sums as done by hand."""
    pv = await _rows(hass, Role.PV)
    assert len(pv) == HOURS
    assert len({row["start"] for row in pv}) == HOURS
    assert (_hour(pv[0]), _hour(pv[-1])) == (FIRST, END - timedelta(hours=1))
    assert pv[-1]["sum"] == pytest.approx(PV_KWH)
    assert not [
        row for row in pv for start, end in OFFLINE if start <= _hour(row) < end
    ]
    load = await _rows(hass, Role.LOAD)
    assert load[-1]["sum"] == pytest.approx(LOAD_KWH)
    charged = await _rows(hass, Role.BATTERY_CHARGE)
    assert charged[-1]["sum"] == pytest.approx(CHARGED_KWH)
    # No grid, no generator: VRM gives their flows as false, 0 every hour.
    for metric in (Role.GRID_IMPORT, Role.GRID_EXPORT, Role.GENERATOR):
        rows = await _rows(hass, metric)
        assert len(rows) == HOURS
        assert rows[-1]["sum"] == 0


async def test_first_backfill_fetches_the_history_window_by_window(
    ready: HomeAssistant, vrm: VrmReplay, freezer: FrozenDateTimeFactory
) -> None:
    """From the site's creation to the last settled hour, 31 days a request.

    The second window has no record at all (the GX device was offline): the
    backfill goes on past it.
    """
    hass = ready
    entry = await _add_site(hass, VRM_DATA)
    day = timedelta(days=31)
    assert vrm.stats_requests == [
        (FIRST, FIRST + day),
        (FIRST + day, FIRST + 2 * day),
        (FIRST + 2 * day, END),
    ]
    await _assert_whole_history(hass)

    # VRM's statistics are the report's sources: 11 January lost 3 sun hours
    # (4.5 kWh) and flags them, and 13:00, whose energy needs 12:00's sum.
    coordinator = entry.runtime_data.coordinator
    [row] = await coordinator.async_report(date(2026, 1, 11), date(2026, 1, 11), "day")
    assert row.pv_kwh == pytest.approx(13.5 - 4.5 - 1.5)
    assert row.complete_hours == 20
    assert row.battery_discharged_kwh == pytest.approx(2.4)
    assert row.grid_import_kwh == 0

    # A run with nothing settled since asks VRM nothing; two hours later it
    # asks for those two only.
    backfill = entry.runtime_data.vrm
    assert backfill is not None
    assert await backfill.async_run() == 0
    assert len(vrm.stats_requests) == 3
    freezer.move_to(NOW + timedelta(hours=2))
    assert await backfill.async_run() == 2
    assert vrm.stats_requests[3:] == [(END, END + timedelta(hours=2))]
    await async_wait_recording_done(hass)
    pv = await _rows(hass, Role.PV)
    assert len(pv) == HOURS + 2
    assert pv[-1]["sum"] == pytest.approx(PV_KWH + 2 * 1.5)  # two sun hours


async def test_a_backfill_stopped_midway_resumes_from_the_recorder(
    ready: HomeAssistant, vrm: VrmReplay, caplog: pytest.LogCaptureFixture
) -> None:
    """VRM fails after the first window; the next run goes on from the last hour recorded."""
    hass = ready
    vrm.down_from = 1
    with caplog.at_level(logging.WARNING):
        entry = await _add_site(hass, VRM_DATA)
    assert "VRM did not answer" in caplog.text
    pv = await _rows(hass, Role.PV)
    # The first window's last record: the GX device went offline after it.
    last = datetime(2026, 1, 12, 23, tzinfo=UTC)
    assert _hour(pv[-1]) == last

    vrm.down_from = None
    backfill = entry.runtime_data.vrm
    assert backfill is not None
    await backfill.async_run()
    await async_wait_recording_done(hass)
    # Read back from the recorder: the hour after the last one imported.
    assert vrm.stats_requests[1][0] == last + timedelta(hours=1)
    await _assert_whole_history(hass)


async def test_a_rate_limit_is_waited_out_or_left_for_the_next_run(
    ready: HomeAssistant, vrm: VrmReplay
) -> None:
    """A 429 the library's retries outlast leaves nothing behind; one 429 is retried."""
    hass = ready
    too_many = (429, {"Retry-After": "0"})
    vrm.stats_failures = [too_many] * 3  # every try of the first request
    entry = await _add_site(hass, VRM_DATA)
    assert await _rows(hass, Role.PV) == []

    vrm.stats_failures = [too_many]  # once: the library retries after 0 s
    backfill = entry.runtime_data.vrm
    assert backfill is not None
    await backfill.async_run()
    await async_wait_recording_done(hass)
    assert vrm.stats_failures == []
    await _assert_whole_history(hass)


async def test_a_refused_token_is_a_repair_until_a_new_one_is_given(
    ready: HomeAssistant, vrm: VrmReplay, issue_registry: ir.IssueRegistry
) -> None:
    """VRM refuses the token: a repair issue; a new token in the options resumes."""
    hass = ready
    entry = await _add_site(hass, VRM_DATA | {"vrm_api_token": "revoked"})
    issue = issue_registry.async_get_issue(
        DOMAIN, f"vrm_token_refused_{entry.entry_id}"
    )
    assert issue is not None
    assert issue.translation_placeholders == {
        "title": "Village grid",
        "site": str(SITE_ID),
    }
    assert vrm.stats_requests == []

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["step_id"] == "site_report"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"supply_threshold": 0, "vrm_backfill": True}
    )
    assert result["step_id"] == "site_report_vrm"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {"vrm_api_token": "still revoked", "vrm_site_id": SITE_ID, "vrm_sources": True},
    )
    assert result["errors"] == {"base": "vrm_invalid_auth"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {"vrm_api_token": TOKEN, "vrm_site_id": SITE_ID, "vrm_sources": True},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.data["vrm_api_token"] == TOKEN
    await _settled(hass)
    await _settled(hass)
    assert issue_registry.async_get_issue(DOMAIN, issue.issue_id) is None
    await _assert_whole_history(hass)


async def test_the_form_tries_the_token_on_vrm(
    ready: HomeAssistant, vrm: VrmReplay
) -> None:
    """The VRM step says it is Victron's cloud; a refused token or unknown site is an error."""
    hass = ready
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "site_report"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"name": "Village grid", "supply_threshold": 0, "vrm_backfill": True},
    )
    assert result["step_id"] == "site_report_vrm"
    answers = {
        ("wrong", SITE_ID): "vrm_invalid_auth",
        (TOKEN, SITE_ID + 1): "vrm_site_not_found",
    }
    for (token, site), error in answers.items():
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {"vrm_api_token": token, "vrm_site_id": site, "vrm_sources": True},
        )
        assert result["errors"] == {"base": error}
    # No VRM sources and no entity: nothing to report from.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"vrm_api_token": TOKEN, "vrm_site_id": SITE_ID, "vrm_sources": False},
    )
    assert result["errors"] == {"base": "no_site_entities"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"vrm_api_token": TOKEN, "vrm_site_id": SITE_ID, "vrm_sources": True},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Village grid"
    assert result["data"] == VRM_DATA
