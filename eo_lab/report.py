"""``eo report``: a site's report from a recorder database, outside Home Assistant.

Reads the recorder's long-term statistics (tables ``statistics_meta`` and
``statistics``) through SQLAlchemy: SQLite, MariaDB/MySQL or PostgreSQL by
their URL, with the same queries. The metrics are the integration's own
(``lib/reports``), so a report here and one from Home Assistant's action
give the same figures. The file is written whole or not at all: the same
inputs give the same bytes, and a re-run over an overlapping period
rewrites its rows, never appends duplicates.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
import os
from pathlib import Path
import tempfile

import sqlalchemy as sa

from custom_components.energy_orchestrator.lib.reports.metrics import (
    ReportRow,
    ReportSettings,
    Resolution,
    report_csv,
    site_report,
)
from custom_components.energy_orchestrator.lib.reports.purchases import (
    Purchases,
    parse_purchases,
)
from custom_components.energy_orchestrator.lib.reports.statistics import (
    ENERGY_ROLES,
    HOUR,
    ReportError,
    SiteEntities,
    StatisticsRow,
    kwh_factor,
)

_META = sa.table(
    "statistics_meta",
    sa.column("id"),
    sa.column("statistic_id"),
    sa.column("unit_of_measurement"),
)
_STATISTICS = sa.table(
    "statistics",
    sa.column("metadata_id"),
    sa.column("start_ts"),
    sa.column("state"),
    sa.column("sum"),
    sa.column("mean"),
    sa.column("min"),
    sa.column("max"),
)


@dataclass(frozen=True)
class Report:
    """A report made: its rows, its CSV text, and the purchases it read."""

    rows: list[ReportRow]
    csv: str
    purchases: Purchases | None


def period(first_day: date, last_day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """Return [start of first_day, end of last_day) in the site's zone, in UTC."""
    if last_day < first_day:
        raise ReportError(f"--to {last_day} is before --from {first_day}")
    start = datetime.combine(first_day, datetime.min.time(), tz)
    end = datetime.combine(last_day + timedelta(days=1), datetime.min.time(), tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def read_statistics(
    engine: sa.Engine, entities: SiteEntities, first: datetime, last: datetime
) -> dict[str, list[StatisticsRow]]:
    """Return each entity's hourly rows from the hour before ``first`` up to ``last``.

    Energy is converted to kWh by the unit the recorder keeps for it.
    """
    energy = {entity_id for role, entity_id in entities.all() if role in ENERGY_ROLES}
    wanted = entities.entity_ids()
    with engine.connect() as connection:
        metadata = connection.execute(
            sa.select(
                _META.c.id, _META.c.statistic_id, _META.c.unit_of_measurement
            ).where(_META.c.statistic_id.in_(wanted))
        ).all()
        found = {
            statistic_id: (meta_id, unit) for meta_id, statistic_id, unit in metadata
        }
        if missing := [entity_id for entity_id in wanted if entity_id not in found]:
            raise ReportError(f"the database has no statistics of {', '.join(missing)}")
        factors = {
            meta_id: kwh_factor(unit) if statistic_id in energy else 1.0
            for statistic_id, (meta_id, unit) in found.items()
        }
        names = {meta_id: statistic_id for statistic_id, (meta_id, _) in found.items()}
        result = connection.execute(
            sa.select(
                _STATISTICS.c.metadata_id,
                _STATISTICS.c.start_ts,
                _STATISTICS.c.state,
                _STATISTICS.c.sum,
                _STATISTICS.c.mean,
                _STATISTICS.c.min,
                _STATISTICS.c.max,
            )
            .where(
                _STATISTICS.c.metadata_id.in_(list(names)),
                _STATISTICS.c.start_ts >= (first - HOUR).timestamp(),
                _STATISTICS.c.start_ts < last.timestamp(),
            )
            .order_by(_STATISTICS.c.metadata_id, _STATISTICS.c.start_ts)
        )
        rows: dict[str, list[StatisticsRow]] = {entity_id: [] for entity_id in wanted}
        for meta_id, start_ts, state, total, mean, low, high in result:
            row = {"start": start_ts, "state": state, "sum": total, "mean": mean}
            rows[names[meta_id]].append(
                StatisticsRow.from_recorder(
                    row | {"min": low, "max": high}, factors[meta_id]
                )
            )
    return rows


def make_report(
    db_url: str,
    entities: SiteEntities,
    *,
    first: datetime,
    last: datetime,
    resolution: Resolution,
    tz: tzinfo,
    purchases_csv: str | None = None,
    settings: ReportSettings | None = None,
) -> Report:
    """Read the database and the purchases; return the report."""
    purchases = None if purchases_csv is None else parse_purchases(purchases_csv, tz)
    try:
        engine = sa.create_engine(db_url)
    except (sa.exc.ArgumentError, ImportError) as err:
        raise ReportError(f"cannot open {_safe(db_url)}: {err}") from None
    try:
        statistics = read_statistics(engine, entities, first, last)
    except sa.exc.SQLAlchemyError as err:
        reason = str(err).splitlines()[0]
        raise ReportError(f"cannot read {_safe(db_url)}: {reason}") from None
    finally:
        engine.dispose()
    rows = site_report(
        entities,
        statistics,
        first,
        last,
        resolution,
        tz,
        purchases=None if purchases is None else purchases.purchases,
        settings=settings,
    )
    return Report(rows, report_csv(rows, entities.pv, tz), purchases)


def _safe(db_url: str) -> str:
    """Return a database URL without its password, to be printed."""
    try:
        return sa.make_url(db_url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "the database URL"


def write_whole(path: Path, text: str) -> None:
    """Write a file whole or not at all (a reader never sees half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def summary(report: Report, resolution: Resolution, tz: tzinfo) -> Iterable[str]:
    """Return the lines ``eo report`` prints about a report it wrote."""
    complete = sum(1 for row in report.rows if row.complete)
    yield (
        f"{len(report.rows)} rows by {resolution}: {complete} complete,"
        f" {len(report.rows) - complete} with missing or implausible hours"
    )
    for row in report.rows:
        if not row.complete:
            yield f"  {row.start.astimezone(tz).isoformat()}: {'; '.join(row.flags)}"
    if report.purchases is not None:
        yield (
            f"purchases: {len(report.purchases.purchases)} read;"
            f" repeated rows counted once: {report.purchases.duplicates}"
        )
