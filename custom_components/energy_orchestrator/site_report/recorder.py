"""The site's hourly statistics, read through the recorder's own statistics API.

The rows go to the HA-free report (``lib/reports``) exactly as ``eo report``
hands it the rows it reads from the database: in the unit the recorder keeps,
energy converted to kWh by the same factor, so both give the same figures.
"""

from datetime import datetime
from typing import Any

from homeassistant.core import HomeAssistant

from ..lib.reports.statistics import (
    ENERGY_ROLES,
    HOUR,
    ReportError,
    SiteEntities,
    StatisticsRow,
    kwh_factor,
)

_TYPES: set[Any] = {"state", "sum", "mean", "min", "max"}


async def async_read_statistics(
    hass: HomeAssistant, entities: SiteEntities, first: datetime, last: datetime
) -> dict[str, list[StatisticsRow]]:
    """Return each entity's hourly rows from the hour before ``first`` up to ``last``.

    Raises ReportError when an energy entity's statistics are not in an
    energy unit; an entity without statistics has no rows (its hours are
    flagged missing).
    """
    # The recorder is an after-dependency: loaded only where a report is made.
    from homeassistant.components.recorder.statistics import (  # noqa: PLC0415
        get_metadata,
        statistics_during_period,
    )
    from homeassistant.helpers.recorder import get_instance  # noqa: PLC0415

    wanted = entities.entity_ids()
    energy = {entity_id for role, entity_id in entities.all() if role in ENERGY_ROLES}

    def read() -> tuple[dict[str, Any], dict[str, Any]]:
        metadata = get_metadata(hass, statistic_ids=set(wanted))
        rows = statistics_during_period(
            hass, first - HOUR, last, set(wanted), "hour", None, _TYPES
        )
        return metadata, rows

    metadata, rows = await get_instance(hass).async_add_executor_job(read)
    statistics: dict[str, list[StatisticsRow]] = {}
    for entity_id in wanted:
        factor = 1.0
        if entity_id in energy and entity_id in metadata:
            unit = metadata[entity_id][1]["unit_of_measurement"]
            try:
                factor = kwh_factor(unit)
            except ReportError as err:
                raise ReportError(f"{entity_id}: {err}") from None
        statistics[entity_id] = [
            StatisticsRow.from_recorder(row, factor) for row in rows.get(entity_id, [])
        ]
    return statistics
