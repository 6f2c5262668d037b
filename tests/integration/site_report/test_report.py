"""Reports from a recorder database Home Assistant wrote: known month, gap, ``eo report``."""

from datetime import date
import os
from pathlib import Path
import shutil
import sqlite3

from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import RecorderInstanceContextManager

from custom_components.energy_orchestrator.lib.reports.metrics import (
    Resolution,
    report_csv,
    site_report,
)
from custom_components.energy_orchestrator.lib.reports.purchases import parse_purchases
from custom_components.energy_orchestrator.lib.reports.statistics import SiteEntities
from custom_components.energy_orchestrator.site_report.recorder import (
    async_read_statistics,
)
from eo_lab import cli, report

from .conftest import SAMPLE
from .month import (
    ENTITIES,
    FIRST_DAY,
    LAST_DAY,
    PURCHASES,
    SITE,
    TIME_ZONE,
    import_month,
)

# The month as the recorder wrote it, for the examples of docs/eo.md.
SAMPLE_PURCHASES = SAMPLE.with_name("purchases_march_2026.csv")


@pytest.fixture
def mock_recorder_before_hass(
    async_test_recorder: RecorderInstanceContextManager,
) -> None:
    """Prepare the recorder before Home Assistant."""


@pytest.fixture
async def month(
    hass: HomeAssistant, recorder_mock: Recorder, month_in_sample: bool
) -> HomeAssistant:
    """Home Assistant whose recorder holds the known month."""
    await hass.config.async_set_time_zone(TIME_ZONE)
    if not month_in_sample:
        import_month(hass)
        await async_wait_recording_done(hass)
    return hass


async def _ha_report(hass: HomeAssistant, resolution: Resolution) -> str:
    """Return the month's report as Home Assistant makes it, with the purchases."""
    entities = SiteEntities.parse(ENTITIES)
    first, last = report.period(FIRST_DAY, LAST_DAY, SITE)
    statistics = await async_read_statistics(hass, entities, first, last)
    purchases = parse_purchases(PURCHASES, SITE).purchases
    rows = site_report(
        entities, statistics, first, last, resolution, SITE, purchases=purchases
    )
    return report_csv(rows, entities.pv, SITE)


async def test_known_month_equals_the_figures_done_by_hand(
    month: HomeAssistant,
) -> None:
    """The month's totals, the gap's day and the outages are those of month.py."""
    entities = SiteEntities.parse(ENTITIES)
    first, last = report.period(FIRST_DAY, LAST_DAY, SITE)
    statistics = await async_read_statistics(month, entities, first, last)
    purchases = parse_purchases(PURCHASES, SITE)
    days = site_report(
        entities,
        statistics,
        first,
        last,
        Resolution.DAY,
        SITE,
        purchases=purchases.purchases,
    )
    assert len(days) == 31

    def month_total(name: str) -> float:
        return round(sum(getattr(day, name) for day in days), 6)

    assert month_total("pv_kwh") == 372 + 121
    assert round(sum(d.pv_kwh_by_entity["sensor.pv_b"] for d in days), 6) == 121
    assert month_total("load_kwh") == 744
    assert month_total("battery_charged_kwh") == 62
    assert month_total("battery_discharged_kwh") == 55.8
    assert {round(d.battery_round_trip_efficiency_pct, 6) for d in days} == {90.0}
    assert {(d.soc_min_pct, d.soc_mean_pct, d.soc_max_pct) for d in days} == {
        (35, 51.5, 68)
    }
    assert month_total("supply_hours") == 740
    assert month_total("outage_hours") == 4
    assert month_total("outages") == 2
    assert month_total("purchased_kwh") == 258
    assert purchases.duplicates == 1
    # C1 from 1 March, C3 until 3 March 08:00, C2 from 5 March.
    assert [d.active_customers for d in days[:5]] == [2, 2, 2, 1, 2]

    # The gap: 10 March has 18 complete hours and says which entity lacked 6.
    gap_day = days[9]
    assert (gap_day.hours, gap_day.complete_hours) == (24, 18)
    assert gap_day.pv_kwh_by_entity["sensor.pv_b"] == 1.0
    assert gap_day.flags == ("sensor.pv_b missing 6 h",)
    assert [d.start.astimezone(SITE).day for d in days if not d.complete] == [10]


async def test_a_gap_of_hours_is_flagged_hour_by_hour(month: HomeAssistant) -> None:
    """By hour, each missing hour of the gap is its own flagged row, left empty."""
    entities = SiteEntities.parse(ENTITIES)
    first, last = report.period(date(2026, 3, 10), date(2026, 3, 10), SITE)
    statistics = await async_read_statistics(month, entities, first, last)
    hours = site_report(entities, statistics, first, last, Resolution.HOUR, SITE)
    flagged = [h.start.astimezone(SITE).hour for h in hours if not h.complete]
    assert flagged == [10, 11, 12, 13, 14, 15]
    assert {h.pv_kwh_by_entity["sensor.pv_b"] for h in hours if not h.complete} == {
        None
    }
    assert all(h.flags == ("sensor.pv_b missing",) for h in hours if not h.complete)


@pytest.mark.parametrize("resolution", ["day", "hour"])
async def test_eo_report_gives_home_assistants_figures(
    month: HomeAssistant, recorder_db_url: str, tmp_path: Path, resolution: str
) -> None:
    """``eo report`` on the database gives the same file; a re-run the same bytes."""
    purchases = tmp_path / "purchases.csv"
    purchases.write_text(PURCHASES)
    out = tmp_path / "reports" / "march.csv"
    argv = [
        "report",
        "--db",
        recorder_db_url,
        "--entities",
        ENTITIES,
        "--purchases",
        str(purchases),
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-31",
        "--resolution",
        resolution,
        "--timezone",
        TIME_ZONE,
        "--out",
        str(out),
    ]
    assert await month.async_add_executor_job(cli.main, argv) == 0
    expected = await _ha_report(month, Resolution(resolution))
    written = await month.async_add_executor_job(out.read_bytes)
    assert written.decode() == expected
    # Over an overlapping period, then the same again: rewritten, never appended.
    argv[argv.index("2026-03-01")] = "2026-03-15"
    assert await month.async_add_executor_job(cli.main, argv) == 0
    again = await month.async_add_executor_job(out.read_text)
    assert again.count("2026-03-15T00:00:00+03:00") == 1
    assert "2026-03-14T" not in again
    argv[argv.index("2026-03-15")] = "2026-03-01"
    assert await month.async_add_executor_job(cli.main, argv) == 0
    assert await month.async_add_executor_job(out.read_bytes) == written


async def test_eo_report_refuses_what_it_cannot_read(
    month: HomeAssistant,
    recorder_db_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An unknown entity and a malformed purchases file fail with one line each."""
    base = [
        "report",
        "--db",
        recorder_db_url,
        "--from",
        "2026-03-01",
        "--to",
        "2026-03-02",
        "--out",
        "-",
    ]
    argv = [*base, "--entities", "pv=sensor.nowhere"]
    assert await month.async_add_executor_job(cli.main, argv) == 1
    assert "the database has no statistics of sensor.nowhere" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "customer_id,time,energy_wh\nC1,2026-03-01T08:00,1000\nC2,2026-03-01,lots\n"
    )
    argv = [*base, "--entities", ENTITIES, "--purchases", str(bad)]
    assert await month.async_add_executor_job(cli.main, argv) == 1
    assert "line 3: energy_wh 'lots' is not a number" in capsys.readouterr().err


def _copy_database(db_url: str, target: Path) -> None:
    """Copy a SQLite database, compacted (the recorder's own file keeps free pages)."""
    target.unlink(missing_ok=True)
    with sqlite3.connect(db_url.removeprefix("sqlite:///")) as source:
        source.execute("VACUUM INTO ?", (str(target),))


@pytest.mark.fresh_recorder
async def test_the_examples_sample_is_this_month(
    month: HomeAssistant, recorder_db_url: str, tmp_path: Path
) -> None:
    """The sample of docs/eo.md reports what this month does (EO_WRITE_SAMPLE=1 rewrites it)."""
    if os.environ.get("EO_WRITE_SAMPLE"):
        await month.async_add_executor_job(_copy_database, recorder_db_url, SAMPLE)
        await month.async_add_executor_job(SAMPLE_PURCHASES.write_text, PURCHASES)
    copy = tmp_path / "sample.db"
    await month.async_add_executor_job(shutil.copyfile, SAMPLE, copy)
    outputs = []
    for db_url in (recorder_db_url, f"sqlite:///{copy}"):
        out = tmp_path / f"{len(outputs)}.csv"
        argv = [
            "report", "--db", db_url, "--entities", ENTITIES,
            "--purchases", str(SAMPLE_PURCHASES), "--from", "2026-03-01",
            "--to", "2026-03-31", "--resolution", "hour", "--timezone", TIME_ZONE,
            "--out", str(out),
        ]  # fmt: skip
        assert await month.async_add_executor_job(cli.main, argv) == 0
        outputs.append(await month.async_add_executor_job(out.read_text))
    assert outputs[0] == outputs[1]
    assert await month.async_add_executor_job(SAMPLE_PURCHASES.read_text) == PURCHASES
