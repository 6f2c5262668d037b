"""``eo bench report``: ``eo report`` on a year of hourly statistics of 20 entities.

The database is SQLite written by Home Assistant's own recorder: its
statistics import takes the year's rows, as it takes a backfill (minutes:
it writes row by row). The site: 18 energy entities (14 inverters, load,
battery in and out, grid import), its SOC and its supply. Measured: ``eo report`` over
the year by day and by hour, run as a user runs it (its own process,
Python's start included): the wall time and the process's peak resident
memory; then the same report in this process, without the start.
"""

import asyncio
from datetime import UTC, datetime, timedelta
import logging
import math
from pathlib import Path
import subprocess
import sys
import tempfile
import time
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from custom_components.energy_orchestrator.lib.reports.metrics import Resolution
from custom_components.energy_orchestrator.lib.reports.statistics import SiteEntities
from eo_lab import report

if TYPE_CHECKING:
    from homeassistant.components.recorder.models import (
        StatisticData,
        StatisticMetaData,
    )

SITE = ZoneInfo("Africa/Nairobi")
INVERTERS = 14
ENERGY = [f"sensor.pv_{index}" for index in range(INVERTERS)] + [
    "sensor.load",
    "sensor.battery_in",
    "sensor.battery_out",
    "sensor.grid_import",
]
MEASURED = ["sensor.soc", "sensor.supply"]
ENTITIES = ",".join(
    [f"pv={entity}" for entity in ENERGY[:INVERTERS]]
    + [
        "load=sensor.load",
        "battery_charge=sensor.battery_in",
        "battery_discharge=sensor.battery_out",
        "grid_import=sensor.grid_import",
        "soc=sensor.soc",
        "supply=sensor.supply",
    ]
)


def write_year(db_url: str, year: int = 2025) -> int:
    """Write a year of hourly statistics of 20 entities; return the rows written.

    Home Assistant's recorder writes them, through its statistics import,
    as it writes a backfill; it runs in a Home Assistant of its own in this
    thread, with the recorder alone set up.
    """
    return asyncio.run(_async_write_year(db_url, year))


async def _async_write_year(db_url: str, year: int) -> int:
    """Import the year through a recorder on ``db_url``; return the rows."""
    # Home Assistant, loaded only for this benchmark.
    from homeassistant.components.recorder.statistics import (  # noqa: PLC0415
        async_import_statistics,
    )
    from homeassistant.helpers.recorder import get_instance  # noqa: PLC0415

    written = 0
    with tempfile.TemporaryDirectory() as config_dir:
        hass = await _async_recorder_alone(config_dir, db_url)
        try:
            for entity_id in ENERGY + MEASURED:
                metadata, rows = _year_of(entity_id, year)
                async_import_statistics(hass, metadata, rows)
                written += len(rows)
            await hass.async_block_till_done()
            await get_instance(hass).async_block_till_done()
        finally:
            await hass.async_stop()
    return written


async def _async_recorder_alone(config_dir: str, db_url: str) -> Any:
    """Start a Home Assistant in ``config_dir`` with only its recorder, on db_url."""
    from homeassistant import bootstrap, config_entries, core, loader  # noqa: PLC0415
    from homeassistant.helpers.recorder import (  # noqa: PLC0415
        async_initialize_recorder,
    )
    from homeassistant.setup import async_setup_component  # noqa: PLC0415

    hass = core.HomeAssistant(config_dir)
    hass.config.skip_pip = True
    await hass.config.async_set_time_zone("UTC")
    loader.async_setup(hass)
    hass.config_entries = config_entries.ConfigEntries(hass, {})
    await bootstrap.async_load_base_functionality(hass)
    async_initialize_recorder(hass)
    # The loader warns of this repository's custom integration on sys.path.
    logging.getLogger("homeassistant.loader").setLevel(logging.ERROR)
    recorder = {"recorder": {"db_url": db_url, "commit_interval": 0}}
    if not await async_setup_component(hass, "recorder", recorder):
        await hass.async_stop()
        raise RuntimeError(f"Home Assistant's recorder did not start on {db_url}")
    await hass.async_start()
    return hass


def _year_of(
    entity_id: str, year: int
) -> tuple[StatisticMetaData, list[StatisticData]]:
    """Return an entity's statistics metadata and its hourly rows for the year.

    The rows begin an hour before the year, for its first hour's energy.
    """
    from homeassistant.components.recorder.models import (  # noqa: PLC0415
        StatisticMeanType,
    )

    energy = entity_id in ENERGY
    metadata: StatisticMetaData = {
        "statistic_id": entity_id,
        "source": "recorder",
        "name": None,
        "unit_of_measurement": "kWh" if energy else "%",
        "unit_class": "energy" if energy else None,
        "has_sum": energy,
        "mean_type": StatisticMeanType.NONE if energy else StatisticMeanType.ARITHMETIC,
    }
    start = datetime(year, 1, 1, tzinfo=UTC) - timedelta(hours=1)
    hours = int((datetime(year + 1, 1, 1, tzinfo=UTC) - start).total_seconds() // 3600)
    rows: list[StatisticData] = []
    total = 0.0
    for hour in range(hours):
        moment = start + timedelta(hours=hour)
        level = max(0.0, math.sin(math.pi * ((moment.hour + 3) % 24 - 6) / 12))
        if energy:
            total += level
            rows.append({"start": moment, "state": total, "sum": total})
        else:
            mean = 50 + 30 * level
            rows.append(
                {"start": moment, "mean": mean, "min": mean - 5, "max": mean + 5}
            )
    return metadata, rows


def report_benchmark(year: int = 2025) -> dict[str, Any]:
    """Return the time and peak memory of ``eo report`` over the year."""
    entities = SiteEntities.parse(ENTITIES)
    first, last = report.period(
        datetime(year, 1, 1).date(), datetime(year, 12, 31).date(), SITE
    )
    figures: dict[str, Any] = {"entities": len(ENERGY) + len(MEASURED)}
    with tempfile.TemporaryDirectory() as folder:
        db_url = f"sqlite:///{Path(folder) / 'home-assistant_v2.db'}"
        started = time.perf_counter()
        figures["rows"] = write_year(db_url, year)
        figures["write_s"] = round(time.perf_counter() - started, 1)
        figures["database_mb"] = round(
            (Path(folder) / "home-assistant_v2.db").stat().st_size / 1e6, 1
        )
        for resolution in Resolution:
            out = Path(folder) / f"{resolution}.csv"
            seconds, peak_kb = _run_eo_report(db_url, resolution, year, out)
            started = time.perf_counter()
            made = report.make_report(
                db_url, entities, first=first, last=last, resolution=resolution, tz=SITE
            )
            in_process = time.perf_counter() - started
            figures[str(resolution)] = {
                "report_rows": len(made.rows),
                "seconds": round(seconds, 2),
                "peak_rss_mb": round(peak_kb / 1000, 1),
                "in_process_seconds": round(in_process, 2),
                "same_file": out.read_text(encoding="utf-8") == made.csv,
            }
    return figures


# Runs the command given and prints its wall seconds and peak kB. Linux
# hands a child the resident size of the process it was forked from (the
# benchmark's, grown by the recorder and the in-process reports) as its
# peak, so ``eo report`` is started from this small process instead.
_MEASURE = """
import os, subprocess, sys, time
started = time.perf_counter()
process = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(process.pid, 0)
print(time.perf_counter() - started, usage.ru_maxrss)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def _run_eo_report(
    db_url: str, resolution: Resolution, year: int, out: Path
) -> tuple[float, int]:
    """Run ``eo report`` in its own process; return its wall seconds and peak kB."""
    argv = [
        sys.executable, "-m", "eo_lab", "report", "--db", db_url,
        "--entities", ENTITIES, "--from", f"{year}-01-01", "--to", f"{year}-12-31",
        "--resolution", str(resolution), "--timezone", str(SITE), "--out", str(out),
    ]  # fmt: skip
    measured = subprocess.run(
        [sys.executable, "-c", _MEASURE, *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    if measured.returncode:
        raise RuntimeError(
            f"eo report failed with status {measured.returncode}: {measured.stderr}"
        )
    seconds, peak_kb = measured.stdout.split()
    return float(seconds), int(peak_kb)


def format_report_figures(figures: dict[str, Any]) -> str:
    """Return the figures as the lines ``eo bench report`` prints."""
    lines = [
        f"{figures['rows']} hourly rows of {figures['entities']} entities"
        f" ({figures['database_mb']} MB SQLite, written by the recorder in {figures['write_s']} s)"
    ]
    lines.extend(
        f"eo report by {resolution}: {figures[resolution]['report_rows']} rows in"
        f" {figures[resolution]['seconds']} s, peak {figures[resolution]['peak_rss_mb']} MB"
        f" resident; {figures[resolution]['in_process_seconds']} s without Python's start"
        for resolution in ("day", "hour")
    )
    return "\n".join(lines)
