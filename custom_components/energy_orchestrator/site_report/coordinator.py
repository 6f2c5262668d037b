"""The site report's coordinator: today's and this month's metrics, the purchases.

The recorder compiles an hour's statistics just after it ends; the figures
are refreshed every 15 minutes up to the last hour it has compiled, so they
lag the clock by up to an hour and are never partly estimated.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
import logging
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.storage import Store
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from ..const import (
    CONF_SUPPLY_THRESHOLD,
    CONF_VRM_BACKFILL,
    CONF_VRM_SITE_ID,
    CONF_VRM_SOURCES,
    DOMAIN,
)
from ..lib.reports.metrics import (
    ReportRow,
    ReportSettings,
    Resolution,
    active_customers,
    period_row,
    site_report,
)
from ..lib.reports.purchases import (
    Purchase,
    Purchases,
    parse_purchases,
    purchases_csv,
)
from ..lib.reports.statistics import (
    ENERGY_ROLES,
    HOUR,
    ReportError,
    Role,
    SiteEntities,
)
from ..lib.reports.vrm import vrm_sources
from .recorder import async_read_statistics
from .vrm import VrmBackfill

_LOGGER = logging.getLogger(__name__)
UPDATE_INTERVAL = timedelta(minutes=15)
# The recorder compiles the past hour's statistics a few minutes after it.
COMPILE_DELAY = timedelta(minutes=12)
STORAGE_VERSION = 1

type SiteReportConfigEntry = ConfigEntry[SiteReportRuntimeData]


@dataclass(frozen=True)
class SiteFigures:
    """Today's and this month's metrics, up to the last compiled hour."""

    today: ReportRow | None
    month: ReportRow | None
    active_customers: int | None
    day_start: datetime
    month_start: datetime


@dataclass
class SiteReportRuntimeData:
    """What a site report entry holds while it is loaded."""

    coordinator: SiteReportCoordinator
    device_info: DeviceInfo
    # The VRM backfill, where the user turned it on.
    vrm: VrmBackfill | None = None


def site_entities(data: Any) -> SiteEntities:
    """Return the site's entities from the entry's data.

    With VRM's history as the sources, its statistics stand for every energy
    role; the SOC and supply stay the entities named.
    """
    if data.get(CONF_VRM_BACKFILL) and data.get(CONF_VRM_SOURCES):
        data = {
            **{key: value for key, value in data.items() if key not in ENERGY_ROLES},
            **vrm_sources(int(data[CONF_VRM_SITE_ID])),
        }
    pairs = [(Role.PV.value, entity_id) for entity_id in data.get(Role.PV, [])]
    pairs += [
        (role.value, data[role])
        for role in Role
        if role is not Role.PV and data.get(role)
    ]
    return SiteEntities.from_pairs(pairs)


class SiteReportCoordinator(DataUpdateCoordinator[SiteFigures]):
    """Reads the site's statistics and keeps its customers' purchases."""

    config_entry: SiteReportConfigEntry

    def __init__(self, hass: HomeAssistant, entry: SiteReportConfigEntry) -> None:
        """Set up from the entry's entities."""
        super().__init__(
            hass,
            _LOGGER,
            config_entry=entry,
            name=entry.title,
            update_interval=UPDATE_INTERVAL,
        )
        self.entities = site_entities(entry.data)
        self.settings = ReportSettings(
            supply_threshold=float(entry.data.get(CONF_SUPPLY_THRESHOLD, 0.0))
        )
        self.purchases = Purchases(())
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.purchases.{entry.entry_id}"
        )

    async def async_load_purchases(self) -> None:
        """Load the purchases imported before."""
        stored = await self._store.async_load()
        if stored:
            self.purchases = parse_purchases(
                stored["csv"], dt_util.get_default_time_zone()
            )

    async def async_import_purchases(self, text: str) -> tuple[Purchases, int]:
        """Add a purchases file to those kept; return what it held and how many were new.

        Raises PurchasesError (nothing is kept) when any row is bad.
        """
        read = parse_purchases(text, dt_util.get_default_time_zone())
        merged = self.purchases.merged(read)
        added = len(merged.purchases) - len(self.purchases.purchases)
        await self._store.async_save({"csv": purchases_csv(merged)})
        self.purchases = merged
        await self.async_request_refresh()
        return read, added

    async def async_remove_purchases(self) -> None:
        """Delete the purchases kept (the entry is deleted)."""
        await self._store.async_remove()

    def _purchases(self) -> tuple[Purchase, ...] | None:
        """Return the purchases; None before any is imported (unknown, not 0)."""
        return self.purchases.purchases or None

    def _last_hour(self) -> datetime:
        """Return the end of the last hour the recorder has compiled."""
        now = dt_util.utcnow() - COMPILE_DELAY
        return now.replace(minute=0, second=0, microsecond=0)

    async def async_report(
        self, first_day: date, last_day: date, resolution: Resolution
    ) -> list[ReportRow]:
        """Return the report of whole local days, up to the last compiled hour."""
        tz = dt_util.get_default_time_zone()
        first = dt_util.as_utc(datetime.combine(first_day, datetime.min.time(), tz))
        end_day = last_day + timedelta(days=1)
        last = min(
            dt_util.as_utc(datetime.combine(end_day, datetime.min.time(), tz)),
            self._last_hour(),
        )
        if last <= first:
            return []
        statistics = await async_read_statistics(self.hass, self.entities, first, last)
        return site_report(
            self.entities,
            statistics,
            first,
            last,
            resolution,
            tz,
            purchases=self._purchases(),
            settings=self.settings,
        )

    async def _async_update_data(self) -> SiteFigures:
        """Read today's and this month's statistics and compute their metrics."""
        last = self._last_hour()
        # Today is the local day the next hour to compile is in: at midnight
        # it has no hour yet, and its figures are unknown, not yesterday's.
        local = dt_util.as_local(last)
        day_start = dt_util.as_utc(dt_util.start_of_local_day(local))
        month_start = dt_util.as_utc(dt_util.start_of_local_day(local.replace(day=1)))
        try:
            statistics = await async_read_statistics(
                self.hass, self.entities, month_start, last
            )
        except ReportError as err:
            raise UpdateFailed(str(err)) from err
        purchases = self._purchases()

        def row(first: datetime) -> ReportRow | None:
            if first >= last:
                return None
            return period_row(
                self.entities,
                statistics,
                first,
                last,
                purchases=purchases,
                settings=self.settings,
            )

        return SiteFigures(
            today=row(day_start),
            month=row(month_start),
            active_customers=active_customers(purchases, last - HOUR)
            if purchases
            else None,
            day_start=day_start,
            month_start=month_start,
        )
