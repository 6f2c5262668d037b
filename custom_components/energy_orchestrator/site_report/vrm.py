"""The opt-in backfill of Victron VRM's hourly history into external statistics.

Only for a site whose user turned it on in the site report's form: it asks
Victron's cloud (VRM) for the site's hourly energy flows and imports them
through the recorder as ``energy_orchestrator:vrm_<site>_<metric>``. Nothing
is sent to VRM beyond the token and the requests. It runs at set-up and
every hour; each run starts after the last hour the recorder holds (read
back from its statistics, so nothing is imported twice) and goes on window
by window up to the last settled hour. A run VRM refuses (rate limit, server
error, timeout) stops and the next one resumes; a refused token raises a
repair issue.
"""

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
import logging
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.util import dt as dt_util
from victron_vrm import VictronVRMClient
from victron_vrm.exceptions import (
    AuthenticationError,
    AuthorizationError,
    VictronVRMError,
)

from ..const import CONF_VRM_SITE_ID, CONF_VRM_TOKEN, DOMAIN
from ..lib.reports.statistics import Role, hour_floor
from ..lib.reports.vrm import (
    VRM_METRICS,
    hourly_energy,
    next_hours,
    resume_from,
    statistic_id,
    windows,
)

_LOGGER = logging.getLogger(__name__)
# VRM gets a GX device's log some minutes after; an hour is read once it
# ended at least this long ago.
SETTLE = timedelta(hours=1)
RUN_INTERVAL = timedelta(hours=1)
TOKEN_REFUSED = "vrm_token_refused"

_METRIC_NAMES: Mapping[Role, str] = {
    Role.PV: "PV",
    Role.LOAD: "consumption",
    Role.BATTERY_CHARGE: "battery charged",
    Role.BATTERY_DISCHARGE: "battery discharged",
    Role.GRID_IMPORT: "grid import",
    Role.GRID_EXPORT: "grid export",
    Role.GENERATOR: "generator",
}


def vrm_client(hass: HomeAssistant, token: str) -> VictronVRMClient:
    """Return a VRM client on Home Assistant's shared HTTP session."""
    return VictronVRMClient(token=token, client_session=async_get_clientsession(hass))


async def async_check_vrm(
    hass: HomeAssistant, token: str, site_id: int
) -> tuple[dict[str, str], dict[str, str]]:
    """Ask VRM for the site with the token; return the form's errors and placeholders."""
    try:
        site = await vrm_client(hass, token).users.get_site(site_id)
    except AuthenticationError, AuthorizationError:
        return {"base": "vrm_invalid_auth"}, {"error": ""}
    except VictronVRMError as err:
        return {"base": "vrm_cannot_connect"}, {"error": str(err)}
    if site is None:
        return {"base": "vrm_site_not_found"}, {"error": str(site_id)}
    return {}, {"error": ""}


@dataclass
class _Metric:
    """Where a metric's imported history ends: its last hour and sum."""

    last: datetime | None = None
    total: float = 0.0


class VrmBackfill:
    """Imports one VRM site's hourly energy into the recorder, resuming where it is."""

    def __init__(
        self, hass: HomeAssistant, entry_id: str, title: str, data: Mapping[str, Any]
    ) -> None:
        """Set up from the site report entry's VRM settings."""
        self.hass = hass
        self.entry_id = entry_id
        self.title = title
        self.site_id = int(data[CONF_VRM_SITE_ID])
        self.client = vrm_client(hass, data[CONF_VRM_TOKEN])
        self._lock = asyncio.Lock()
        self._failing = False

    async def async_run(self) -> int:
        """Import every settled hour after those imported; return how many hours.

        VRM's refusals end the run (the next one resumes); none is raised.
        """
        if self._lock.locked():
            return 0
        async with self._lock:
            try:
                hours = await self._async_import()
            except (AuthenticationError, AuthorizationError) as err:
                self._token_refused(err)
                return 0
            except VictronVRMError as err:
                if not self._failing:
                    _LOGGER.warning(
                        "%s: VRM did not answer (%s); the backfill resumes in an hour",
                        self.title,
                        err,
                    )
                self._failing = True
                return 0
            if self._failing:
                _LOGGER.info("%s: VRM answers again", self.title)
            self._failing = False
            ir.async_delete_issue(self.hass, DOMAIN, self._issue_id)
            return hours

    async def _async_import(self) -> int:
        """Fetch and import the windows after the last imported hour."""
        metrics = await self._async_last_imported()
        end = hour_floor(dt_util.utcnow()) - SETTLE
        last = {metric: state.last for metric, state in metrics.items()}
        if all(moment is not None for moment in last.values()):
            first = resume_from(last, end)
        else:
            first = await self._async_history_start()
        imported = 0
        for start, stop in windows(first, end):
            stats = await self.client.installations.stats(
                self.site_id, start=start, end=stop, interval="hours", type="kwh"
            )
            hours = hourly_energy(stats["records"], start, stop)
            if hours.off_hour:
                _LOGGER.debug(
                    "%s: %d VRM points not on the hour left out",
                    self.title,
                    hours.off_hour,
                )
            new = 0
            for metric, state in metrics.items():
                rows = next_hours(hours, metric, state.last, state.total)
                if rows:
                    self._add(metric, rows)
                    state.last = rows[-1]["start"]
                    state.total = rows[-1]["sum"]
                    new = max(new, len(rows))
            imported += new
        return imported

    async def _async_history_start(self) -> datetime:
        """Return the first hour of the site's history: when VRM added it."""
        site = await self.client.users.get_site(self.site_id)
        if site is None:
            # The token no longer reaches the site: as good as refused.
            raise AuthorizationError(f"site {self.site_id} not found", 404)
        return hour_floor(site.created_at)

    async def _async_last_imported(self) -> dict[Role, _Metric]:
        """Read each metric's last imported hour and sum back from the recorder."""
        # The recorder is an after-dependency: loaded where a report is made.
        from homeassistant.components.recorder.statistics import (  # noqa: PLC0415
            get_last_statistics,
        )
        from homeassistant.helpers.recorder import get_instance  # noqa: PLC0415

        def read() -> dict[Role, _Metric]:
            metrics: dict[Role, _Metric] = {}
            for metric in VRM_METRICS:
                ident = statistic_id(self.site_id, metric)
                rows = get_last_statistics(self.hass, 1, ident, False, {"sum"})
                if rows.get(ident):
                    row = rows[ident][0]
                    metrics[metric] = _Metric(
                        last=dt_util.utc_from_timestamp(row["start"]),
                        total=float(row.get("sum") or 0.0),
                    )
                else:
                    metrics[metric] = _Metric()
            return metrics

        return await get_instance(self.hass).async_add_executor_job(read)

    def _add(self, metric: Role, rows: list[dict[str, Any]]) -> None:
        """Queue a metric's new hours into the recorder."""
        from homeassistant.components.recorder.models import (  # noqa: PLC0415
            StatisticMeanType,
        )
        from homeassistant.components.recorder.statistics import (  # noqa: PLC0415
            async_add_external_statistics,
        )

        async_add_external_statistics(
            self.hass,
            {
                "statistic_id": statistic_id(self.site_id, metric),
                "source": DOMAIN,
                "name": f"VRM {self.site_id} {_METRIC_NAMES[metric]}",
                "unit_of_measurement": "kWh",
                "unit_class": "energy",
                "has_sum": True,
                "mean_type": StatisticMeanType.NONE,
            },
            rows,  # type: ignore[arg-type]  # the recorder's StatisticData, built as dicts
        )

    @property
    def _issue_id(self) -> str:
        """Return the repair issue of this entry's refused token."""
        return f"{TOKEN_REFUSED}_{self.entry_id}"

    def _token_refused(self, err: VictronVRMError) -> None:
        """Raise a repair issue: the token was revoked or lost the site."""
        _LOGGER.error(
            "%s: VRM refused the token (%s); give a new one in the entry's options",
            self.title,
            err,
        )
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self._issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=TOKEN_REFUSED,
            translation_placeholders={"title": self.title, "site": str(self.site_id)},
        )
