"""The site report's actions: export the report, import customers' purchases.

``export_report`` returns the report as response data and writes it under
the configuration folder; ``import_purchases`` reads a CSV file from this
integration's folder there (``energy_orchestrator/``) or one of Home
Assistant's allowed folders, and keeps nothing of a file with a bad row.
"""

from datetime import date
import json
from pathlib import Path
from typing import Any

from homeassistant.const import ATTR_CONFIG_ENTRY_ID
from homeassistant.core import HomeAssistant, ServiceCall, ServiceResponse
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.service import async_get_config_entry
from homeassistant.util import dt as dt_util
import probatio

from ..const import CONF_KIND, DOMAIN, KIND_SITE_REPORT
from ..lib.reports.metrics import Resolution, report_csv, report_json
from ..lib.reports.purchases import PurchasesError
from ..lib.reports.statistics import ReportError
from .coordinator import SiteReportCoordinator

SERVICE_EXPORT_REPORT = "export_report"
SERVICE_IMPORT_PURCHASES = "import_purchases"
ATTR_FROM = "from"
ATTR_TO = "to"
ATTR_RESOLUTION = "resolution"
ATTR_FORMAT = "format"
ATTR_PATH = "path"
FORMATS = ("csv", "json")
# Every hour of the period is summed in the event loop: ten years took
# 12 s there, a year about one.
MAX_REPORT_DAYS = 366
# Where export_report writes, under the configuration folder.
REPORTS_FOLDER = f"{DOMAIN}/reports"

EXPORT_REPORT_SCHEMA = probatio.Schema(
    {
        probatio.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
        probatio.Required(ATTR_FROM): cv.date,
        probatio.Required(ATTR_TO): cv.date,
        probatio.Optional(ATTR_RESOLUTION, default=Resolution.DAY.value): probatio.In(
            [resolution.value for resolution in Resolution]
        ),
        probatio.Optional(ATTR_FORMAT, default="csv"): probatio.In(FORMATS),
    }
)
IMPORT_PURCHASES_SCHEMA = probatio.Schema(
    {
        probatio.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
        probatio.Required(ATTR_PATH): cv.string,
    }
)


def _site_report(hass: HomeAssistant, call: ServiceCall) -> SiteReportCoordinator:
    """Return the coordinator of the site report the call names."""
    entry = async_get_config_entry(hass, DOMAIN, call.data[ATTR_CONFIG_ENTRY_ID])
    if entry.data.get(CONF_KIND) != KIND_SITE_REPORT:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="not_a_site_report",
            translation_placeholders={"entry": entry.title},
        )
    coordinator: SiteReportCoordinator = entry.runtime_data.coordinator
    return coordinator


def _write(path: Path, text: str) -> None:
    """Write a report file whole (a reader never sees half of it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


async def async_export_report(call: ServiceCall) -> ServiceResponse:
    """Return the report of the days asked for; write it as CSV or JSON."""
    hass = call.hass
    coordinator = _site_report(hass, call)
    first: date = call.data[ATTR_FROM]
    last: date = call.data[ATTR_TO]
    if last < first:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="report_period_reversed",
            translation_placeholders={"from": str(first), "to": str(last)},
        )
    if (last - first).days >= MAX_REPORT_DAYS:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="report_period_too_long",
            translation_placeholders={
                "from": str(first),
                "to": str(last),
                "days": str(MAX_REPORT_DAYS),
            },
        )
    resolution = Resolution(call.data[ATTR_RESOLUTION])
    try:
        rows = await coordinator.async_report(first, last, resolution)
    except OverflowError as err:
        # A day at the calendar's edge has no UTC hour to start from.
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="report_failed",
            translation_placeholders={"error": f"{first} is out of range"},
        ) from err
    except ReportError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="report_failed",
            translation_placeholders={"error": str(err)},
        ) from err
    tz = dt_util.get_default_time_zone()
    pv = coordinator.entities.pv
    data = report_json(rows, pv, tz)
    kind = call.data[ATTR_FORMAT]
    name = f"{coordinator.config_entry.entry_id}_{first}_{last}_{resolution}.{kind}"
    path = Path(hass.config.path(REPORTS_FOLDER, name))
    text = report_csv(rows, pv, tz) if kind == "csv" else json.dumps(data, indent=1)
    await hass.async_add_executor_job(_write, path, text)
    return {"file": str(path), "rows": data}  # type: ignore[dict-item]  # JSON rows


def _read_purchases_file(hass: HomeAssistant, path: Path) -> str:
    """Read a purchases file from a folder Home Assistant may read."""
    try:
        resolved = path.resolve()
    except (OSError, ValueError) as err:  # ValueError: a NUL in the path
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="purchases_unreadable",
            translation_placeholders={"path": repr(str(path)), "error": str(err)},
        ) from err
    # This integration's own folder, or a folder the user allowed.
    own = Path(hass.config.path(DOMAIN)).resolve()
    if not resolved.is_relative_to(own) and not hass.config.is_allowed_path(
        str(resolved)
    ):
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="purchases_path_not_allowed",
            translation_placeholders={"path": str(path)},
        )
    try:
        return resolved.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="purchases_unreadable",
            translation_placeholders={"path": str(path), "error": str(err)},
        ) from err


async def async_import_purchases(call: ServiceCall) -> ServiceResponse:
    """Add a purchases CSV to the site's; refuse the whole file on a bad row."""
    hass = call.hass
    coordinator = _site_report(hass, call)
    path = Path(hass.config.path(call.data[ATTR_PATH]))
    text = await hass.async_add_executor_job(_read_purchases_file, hass, path)
    try:
        read, added = await coordinator.async_import_purchases(text)
    except PurchasesError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="purchases_invalid",
            translation_placeholders={"path": str(path), "error": str(err)},
        ) from err
    return {
        "read": len(read.purchases),
        "duplicates": read.duplicates,
        "added": added,
        "kept": len(coordinator.purchases.purchases),
    }


ACTIONS: tuple[tuple[str, Any, probatio.Schema], ...] = (
    (SERVICE_EXPORT_REPORT, async_export_report, EXPORT_REPORT_SCHEMA),
    (SERVICE_IMPORT_PURCHASES, async_import_purchases, IMPORT_PURCHASES_SCHEMA),
)
