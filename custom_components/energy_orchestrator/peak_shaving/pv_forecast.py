"""PV forecasts from Home Assistant: a Solcast sensor, or a solar forecast service.

Two ways in, one series out (W by period start, for ``PeakShaver``):

- a sensor carrying Solcast's ``detailedForecast`` attribute (half-hourly
  ``period_start`` and ``pv_estimate`` in kW);
- the config entry of any integration with a solar forecast in Home
  Assistant's energy platform (Forecast.Solar, Solcast, Open-Meteo Solar
  Forecast): the same forecast the Energy dashboard draws, as energy per
  period.
"""

from datetime import datetime
from typing import Any

from homeassistant.core import HomeAssistant, State
from homeassistant.loader import IntegrationNotFound, async_get_integration
from homeassistant.util import dt as dt_util

from ..const import LOGGER
from ..lib.control.forecast import energy_periods_to_power

# The attribute of a Solcast sensor that holds its half-hourly forecast.
SOLCAST_DETAILED_FORECAST = "detailedForecast"


def solcast_series(state: State | None) -> list[tuple[datetime, float]]:
    """Return a PV forecast sensor's series in W, when it carries one.

    Anything but Solcast's ``detailedForecast`` gives no series, and the PV
    forecast comes from history.
    """
    if state is None:
        return []
    series: list[tuple[datetime, float]] = []
    for row in state.attributes.get(SOLCAST_DETAILED_FORECAST) or ():
        try:
            start = dt_util.parse_datetime(str(row["period_start"]))
            watts = float(row["pv_estimate"]) * 1000
        except KeyError, TypeError, ValueError:
            continue
        if start is not None:
            series.append((dt_util.as_utc(start), watts))
    return series


async def _async_forecast_platform(hass: HomeAssistant, domain: str) -> Any | None:
    """Return an integration's ``async_get_solar_forecast``, None if it has none."""
    try:
        integration = await async_get_integration(hass, domain)
        if not integration.platforms_exists(("energy",)):
            return None
        platform = await integration.async_get_platform("energy")
    except IntegrationNotFound, ImportError:
        return None
    return getattr(platform, "async_get_solar_forecast", None)


async def async_is_solar_forecast(hass: HomeAssistant, entry_id: str) -> bool:
    """Return whether a config entry's integration gives a solar forecast."""
    entry = hass.config_entries.async_get_entry(entry_id)
    if entry is None:
        return False
    return await _async_forecast_platform(hass, entry.domain) is not None


async def async_service_series(
    hass: HomeAssistant, entry_id: str
) -> list[tuple[datetime, float]]:
    """Return a solar forecast service's series in W; empty when it has none now.

    A service that is not loaded or answers nothing leaves the PV forecast
    to history, as a sensor without a forecast does.
    """
    entry = hass.config_entries.async_get_entry(entry_id)
    if entry is None:
        return []
    forecast = await _async_forecast_platform(hass, entry.domain)
    if forecast is None:
        return []
    try:
        result = await forecast(hass, entry_id)
    except Exception:  # another integration's failure must not stop peak shaving
        LOGGER.debug("Solar forecast of %s failed", entry.title, exc_info=True)
        return []
    periods: list[tuple[datetime, float]] = []
    for moment, energy in ((result or {}).get("wh_hours") or {}).items():
        start = dt_util.parse_datetime(str(moment))
        try:
            value = float(energy)
        except TypeError, ValueError:
            continue
        if start is not None:
            periods.append((dt_util.as_utc(start), value))
    return energy_periods_to_power(periods)
