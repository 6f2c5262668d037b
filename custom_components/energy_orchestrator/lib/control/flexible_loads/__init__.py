"""Flexible loads under the real tariff: one plan for the site's loads, and each period near zero.

- ``tariff``: import and export prices per time (fixed, time of use, a
  price series with its forecast) and the netting period.
- ``loads``: a flexible load, its daily need and window.
- ``milp``: the program builder, solved by HiGHS.
- ``planner``: the lowest-cost schedule of the loads and the battery.
- ``netting``: the real-time layer within the netting period.
- ``controller``: ``FlexibleLoadsController`` ties them together; it is
  what Home Assistant and ``eo backtest-site`` drive.
"""

from .controller import (
    BatteryOrder,
    BatterySpec,
    FlexibleLoadsController,
    LoadBook,
    Measurement,
)
from .loads import FlexibleLoad, LoadControl, LoadError, parse_minutes
from .netting import LoadDecision, LoadReason
from .planner import BatteryNow, LoadNow, Plan, PlanRequest, Session, plan
from .tariff import FixedPrice, PriceSeries, Tariff, TariffError, TimeOfUse, time_of_use

__all__ = [
    "BatteryNow",
    "BatteryOrder",
    "BatterySpec",
    "FixedPrice",
    "FlexibleLoad",
    "FlexibleLoadsController",
    "LoadBook",
    "LoadControl",
    "LoadDecision",
    "LoadError",
    "LoadNow",
    "LoadReason",
    "Measurement",
    "Plan",
    "PlanRequest",
    "PriceSeries",
    "Session",
    "Tariff",
    "TariffError",
    "TimeOfUse",
    "parse_minutes",
    "plan",
    "time_of_use",
]
