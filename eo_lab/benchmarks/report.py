"""``eo bench report``: ``eo report`` on a year of hourly statistics of 20 entities.

The database is SQLite with Home Assistant's own recorder schema (its
``db_schema`` models create the tables and indexes); the year's rows go in
by bulk insert, which the recorder's import API would take minutes to do
row by row. The site: 18 energy entities (14 inverters, load, battery in
and out, grid import), its SOC and its supply. Measured: ``eo report`` over
the year by day and by hour, run as a user runs it (its own process,
Python's start included): the wall time and the process's peak resident
memory; then the same report in this process, without the start.
"""

from datetime import UTC, datetime, timedelta
import math
import os
from pathlib import Path
import subprocess
import sys
import tempfile
import time
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from custom_components.energy_orchestrator.lib.reports.metrics import Resolution
from custom_components.energy_orchestrator.lib.reports.statistics import SiteEntities
from eo_lab import report

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
    """Write a year of hourly statistics of 20 entities; return the rows written."""
    # Home Assistant's schema, loaded only for this benchmark.
    from homeassistant.components.recorder.db_schema import (  # noqa: PLC0415
        Base,
        Statistics,
        StatisticsMeta,
    )

    engine = sa.create_engine(db_url)
    Base.metadata.create_all(engine)
    start = datetime(year, 1, 1, tzinfo=UTC) - timedelta(hours=1)
    hours = int((datetime(year + 1, 1, 1, tzinfo=UTC) - start).total_seconds() // 3600)
    written = 0
    with engine.begin() as connection:
        for meta_id, entity_id in enumerate(ENERGY + MEASURED, start=1):
            energy = entity_id in ENERGY
            connection.execute(
                sa.insert(StatisticsMeta),
                {
                    "id": meta_id,
                    "statistic_id": entity_id,
                    "source": "recorder",
                    "unit_of_measurement": "kWh" if energy else "%",
                    "unit_class": "energy" if energy else None,
                    "has_sum": energy,
                    "mean_type": 0 if energy else 1,
                    "name": None,
                },
            )
            rows: list[dict[str, Any]] = []
            total = 0.0
            for hour in range(hours):
                moment = start + timedelta(hours=hour)
                level = max(0.0, math.sin(math.pi * ((moment.hour + 3) % 24 - 6) / 12))
                row: dict[str, Any] = {
                    "metadata_id": meta_id,
                    "start_ts": moment.timestamp(),
                }
                if energy:
                    total += level
                    row |= {"state": total, "sum": total}
                else:
                    mean = 50 + 30 * level
                    row |= {"mean": mean, "min": mean - 5, "max": mean + 5}
                rows.append(row)
            connection.execute(sa.insert(Statistics), rows)
            written += len(rows)
    engine.dispose()
    return written


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


def _run_eo_report(
    db_url: str, resolution: Resolution, year: int, out: Path
) -> tuple[float, int]:
    """Run ``eo report`` in its own process; return its wall seconds and peak kB."""
    argv = [
        sys.executable, "-m", "eo_lab", "report", "--db", db_url,
        "--entities", ENTITIES, "--from", f"{year}-01-01", "--to", f"{year}-12-31",
        "--resolution", str(resolution), "--timezone", str(SITE), "--out", str(out),
    ]  # fmt: skip
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise RuntimeError(f"eo report failed with status {process.returncode}")
    return seconds, usage.ru_maxrss


def format_report_figures(figures: dict[str, Any]) -> str:
    """Return the figures as the lines ``eo bench report`` prints."""
    lines = [
        f"{figures['rows']} hourly rows of {figures['entities']} entities"
        f" ({figures['database_mb']} MB SQLite, written in {figures['write_s']} s)"
    ]
    lines.extend(
        f"eo report by {resolution}: {figures[resolution]['report_rows']} rows in"
        f" {figures[resolution]['seconds']} s, peak {figures[resolution]['peak_rss_mb']} MB"
        f" resident; {figures[resolution]['in_process_seconds']} s without Python's start"
        for resolution in ("day", "hour")
    )
    return "\n".join(lines)
