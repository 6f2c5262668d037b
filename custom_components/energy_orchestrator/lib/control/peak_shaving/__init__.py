"""Peak shaving: keep the grid connection under its limits, on the billed quantity.

Demand is billed on interval averages (often 15 minutes), so the limiter
works on those: within the running interval it keeps the import *energy*
within the limit times the interval, whatever the power does for a moment.

The limit comes from the user (an import limit, optionally for a time
window) or, without one, from the energy planner: the lowest peak the
battery can hold over the forecast horizon, never below the peak already
billed (going below it saves nothing and spends the battery).

- ``settings``: what the user sets, and limits for a while.
- ``forecaster``: the forecasts, from the site's own past days.
- ``planner``: the planning passes, and when to plan again.
- ``limiter``: the real-time step, with spare energy and the phases' limit.
- ``status``: the state, its reason and the figures shown.
- ``snapshot``: what a restart keeps.
- ``shaver``: ``PeakShaver`` ties them together; it is what Home Assistant
  and ``eo backtest`` drive.
"""

from .forecaster import Forecaster, HistoryForecaster
from .settings import PeakShavingSettings
from .shaver import PeakShaver
from .status import PeakShavingStatus, ShavingReason, ShavingState

__all__ = [
    "Forecaster",
    "HistoryForecaster",
    "PeakShaver",
    "PeakShavingSettings",
    "PeakShavingStatus",
    "ShavingReason",
    "ShavingState",
]
