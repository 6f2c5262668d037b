"""The site report entry: the site's metrics from the recorder's statistics.

The metrics are computed HA-free in ``lib/reports``; this package reads the
statistics through the recorder (``recorder.py``), keeps the customers'
purchases, and offers today's and this month's figures as sensors and the
whole report through the ``export_report`` action.
"""

from datetime import datetime
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryError
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.util import dt as dt_util

from ..const import CONF_VRM_BACKFILL, CONF_VRM_TOKEN, DOMAIN
from ..controller.entity import controller_device_info
from ..lib.reports.metrics import ReportRow, report_json
from . import sensor
from .coordinator import (
    SiteReportConfigEntry,
    SiteReportCoordinator,
    SiteReportRuntimeData,
)
from .vrm import RUN_INTERVAL, VrmBackfill

PLATFORMS = {Platform.SENSOR: sensor.async_setup_entry}


async def async_setup_site_report(
    hass: HomeAssistant, entry: SiteReportConfigEntry
) -> None:
    """Load the purchases and compute today's and this month's figures."""
    if "recorder" not in hass.config.components:
        # The statistics are the recorder's: without it there is nothing to report.
        raise ConfigEntryError(
            translation_domain=DOMAIN, translation_key="recorder_required"
        )
    coordinator = SiteReportCoordinator(hass, entry)
    entry.runtime_data = SiteReportRuntimeData(
        coordinator=coordinator,
        device_info=controller_device_info(entry, "Site report"),
    )
    await coordinator.async_load_purchases()
    await coordinator.async_config_entry_first_refresh()
    if entry.data.get(CONF_VRM_BACKFILL):
        _start_vrm_backfill(hass, entry)


def _start_vrm_backfill(hass: HomeAssistant, entry: SiteReportConfigEntry) -> None:
    """Backfill VRM's history now and every hour; refresh the figures after."""
    backfill = VrmBackfill(hass, entry.entry_id, entry.title, entry.data)
    entry.runtime_data.vrm = backfill

    async def run(_now: datetime | None = None) -> None:
        if await backfill.async_run():
            await entry.runtime_data.coordinator.async_request_refresh()

    entry.async_create_background_task(hass, run(), f"{entry.title} VRM backfill")
    entry.async_on_unload(async_track_time_interval(hass, run, RUN_INTERVAL))


async def async_unload_site_report(
    hass: HomeAssistant, entry: SiteReportConfigEntry
) -> bool:
    """Nothing runs beyond the coordinator, which stops with the entry."""
    return True


async def async_remove_site_report(
    hass: HomeAssistant, entry: SiteReportConfigEntry
) -> None:
    """Delete the purchases kept for the entry."""
    coordinator = SiteReportCoordinator(hass, entry)
    await coordinator.async_remove_purchases()


def site_report_diagnostics(entry: SiteReportConfigEntry) -> dict[str, Any]:
    """Return the entry's entities and today's and this month's figures."""
    coordinator = entry.runtime_data.coordinator
    figures = coordinator.data
    pv = coordinator.entities.pv
    return {
        "entry": {"data": async_redact_data(entry.data, {CONF_VRM_TOKEN})},
        "last_update_success": coordinator.last_update_success,
        "purchases": {
            "count": len(coordinator.purchases.purchases),
            "customers": len({p.customer_id for p in coordinator.purchases.purchases}),
        },
        "today": _row(figures.today, pv),
        "month": _row(figures.month, pv),
    }


def _row(row: ReportRow | None, pv: tuple[str, ...]) -> dict[str, Any] | None:
    """Return a period's metrics as the export gives them: local times, rounded."""
    if row is None:
        return None
    return report_json([row], pv, dt_util.get_default_time_zone())[0]
