"""Reading a price entity's prices and forecast, whichever integration it is of.

Where an integration publishes its forecast in attributes (ENTSO-e, PVPC,
Octopus Energy), they are read at every step; where it only answers an
action (Nord Pool's ``get_prices_for_date``, Tibber's ``get_prices``), the
action is called every ``ACTION_EVERY`` (a minute after a failure). The
shapes are read by ``lib/control/flexible_loads/prices.py``; anything that
cannot be read raises ``PriceSourceError`` with the reason, and the caller
falls back (see ``coordinator.py``).
"""

from datetime import datetime, timedelta
from typing import Any

from homeassistant.const import ATTR_FRIENDLY_NAME, ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util

from ..lib.control.flexible_loads.prices import (
    PriceSourceError,
    attribute_series,
    nordpool_series,
    octopus_series,
    tibber_series,
)
from ..lib.control.flexible_loads.tariff import PriceSeries

NORDPOOL = "nordpool"
TIBBER = "tibber"
# Day-ahead prices change once a day: asking every quarter hour catches
# tomorrow's soon after they are published.
ACTION_EVERY = timedelta(minutes=15)
ACTION_RETRY = timedelta(minutes=1)
# Octopus Energy's rates of today and tomorrow are two event entities.
OCTOPUS_TODAY = "_current_day_rates"
OCTOPUS_TOMORROW = "_next_day_rates"


def nordpool_area(hass: HomeAssistant, entry: er.RegistryEntry) -> str:
    """Return the area of a Nord Pool price entity.

    Its unique id holds the area between dashes (``SE3-current_price``, or
    ``off_peak_1-SE3-block_average`` for a block's price): the part that is
    one of its config entry's areas, else the first.
    """
    parts = entry.unique_id.split("-")
    config_entry = (
        hass.config_entries.async_get_entry(entry.config_entry_id)
        if entry.config_entry_id
        else None
    )
    areas = config_entry.data.get("areas", []) if config_entry is not None else []
    return next((part for part in parts if part in areas), parts[0])


class PriceReader:
    """Reads one price entity's series (see the module doc)."""

    def __init__(self, hass: HomeAssistant, entity_id: str) -> None:
        """Read ``entity_id``'s prices."""
        self.hass = hass
        self.entity_id = entity_id
        self.series: PriceSeries | None = None
        self._asked_at: datetime | None = None

    def _platform(self) -> er.RegistryEntry | None:
        """Return the entity's registry entry (its integration), None if unregistered."""
        return er.async_get(self.hass).async_get(self.entity_id)

    async def async_read(self, now: datetime) -> PriceSeries:
        """Return the entity's prices now; raises PriceSourceError when unreadable."""
        entry = self._platform()
        platform = entry.platform if entry is not None else None
        if platform in (NORDPOOL, TIBBER):
            assert entry is not None
            if (
                self.series is not None
                and self._asked_at is not None
                and now - self._asked_at < ACTION_EVERY
            ):
                return self.series
            self._asked_at = now - ACTION_EVERY + ACTION_RETRY
            try:
                if platform == NORDPOOL:
                    series = await self._async_nordpool(entry, now)
                else:
                    series = await self._async_tibber(now)
            except HomeAssistantError as err:
                raise PriceSourceError(f"{platform} answered: {err}") from err
            self._asked_at = now
        else:
            series = self._from_attributes(now)
        self.series = series
        return series

    def _from_attributes(self, now: datetime) -> PriceSeries:
        """Return the prices the entity's attributes carry."""
        state = self.hass.states.get(self.entity_id)
        if state is None:
            raise PriceSourceError(f"{self.entity_id} does not exist")
        if self.entity_id.endswith(OCTOPUS_TODAY):
            tomorrow = self.hass.states.get(
                self.entity_id.replace(OCTOPUS_TODAY, OCTOPUS_TOMORROW)
            )
            days = [state.attributes]
            if tomorrow is not None and tomorrow.attributes.get("rates"):
                days.append(tomorrow.attributes)
            return octopus_series(days)
        local = dt_util.as_local(now)
        return attribute_series(
            state.attributes,
            state.attributes.get(ATTR_UNIT_OF_MEASUREMENT),
            local.date(),
            dt_util.get_default_time_zone(),
        )

    async def _async_nordpool(
        self, entry: er.RegistryEntry, now: datetime
    ) -> PriceSeries:
        """Ask Nord Pool for today's and tomorrow's prices of the entity's area."""
        area = nordpool_area(self.hass, entry)
        today = dt_util.as_local(now).date()
        responses = []
        for day in (today, today + timedelta(days=1)):
            response = await self.hass.services.async_call(
                NORDPOOL,
                "get_prices_for_date",
                {
                    "config_entry": entry.config_entry_id,
                    "date": day.isoformat(),
                    "areas": [area],
                },
                blocking=True,
                return_response=True,
            )
            responses.append(dict(response or {}))
        return nordpool_series(responses, area)

    async def _async_tibber(self, now: datetime) -> PriceSeries:
        """Ask Tibber for today's and tomorrow's prices of the entity's home."""
        start = dt_util.start_of_local_day(dt_util.as_local(now))
        response: dict[str, Any] = dict(
            await self.hass.services.async_call(
                TIBBER,
                "get_prices",
                {
                    "start": start.isoformat(),
                    "end": (start + timedelta(days=2)).isoformat(),
                },
                blocking=True,
                return_response=True,
            )
            or {}
        )
        homes = response.get("prices") or {}
        state = self.hass.states.get(self.entity_id)
        name = str(state.attributes.get(ATTR_FRIENDLY_NAME, "")) if state else ""
        # An account with several homes: the one the entity is named after.
        home = next((home for home in homes if len(homes) > 1 and home in name), None)
        return tibber_series(response, home)
