"""Which layer of the site's priority order each controller's reason speaks for.

Every controller shows why it is in its state as a reason code; the site
view shows which layer of the order (``arbitration.Layer``) decided the
last change of an output. This is the one table that says which is which,
every reason of every controller included (a test holds it so).
"""

from enum import StrEnum

from .arbitration import Layer
from .battery_states import Reason as BatteryReason
from .ev_charging import ChargingReason
from .flexible_loads.netting import LoadReason
from .peak_shaving.status import ShavingReason

_SAFETY = Layer.SAFETY
_USER = Layer.USER_REQUEST
_PEAK = Layer.PEAK_LIMIT
_PLAN = Layer.SITE_PLAN
_OWN = Layer.SELF_CONSUMPTION

LAYERS: dict[StrEnum, Layer] = {
    # The battery manager: its limits are safety; its windows the user's
    # plan for the site; its automatic rest after a stop the same plan.
    BatteryReason.STARTED: _PLAN,
    BatteryReason.VOLTAGE_HIGH: _SAFETY,
    BatteryReason.VOLTAGE_LOW: _SAFETY,
    BatteryReason.SOC_CEILING: _SAFETY,
    BatteryReason.SOC_FLOOR: _SAFETY,
    BatteryReason.CHARGE_WINDOW_CLOSED: _PLAN,
    BatteryReason.SELL_WINDOW_CLOSED: _PLAN,
    BatteryReason.REST_OVER: _PLAN,
    BatteryReason.REQUESTED: _USER,
    BatteryReason.REQUEST_EXPIRED: _PLAN,
    BatteryReason.INPUTS_UNAVAILABLE: _SAFETY,
    BatteryReason.PEAK_RESERVE: _PEAK,
    # The price plan: the site's plan for cost; filling the reserve peak
    # shaving holds is the peak limit's.
    BatteryReason.CHEAP_HOUR: _PLAN,
    BatteryReason.DEAR_HOUR: _PLAN,
    BatteryReason.HOLDING_CHARGE: _PLAN,
    BatteryReason.FILLING_PEAK_RESERVE: _PEAK,
    BatteryReason.PRICE_PLAN_ENDED: _PLAN,
    # The flexible loads' plan storing a surplus: self-consumption, as a
    # load soaking one (the same code).
    BatteryReason.SOAKING_SURPLUS: _OWN,
    # Peak shaving: the peak limit, but for the battery's and the fuses' limits.
    ShavingReason.STARTED: _PEAK,
    ShavingReason.STOPPED: _USER,
    ShavingReason.INPUTS_UNAVAILABLE: _SAFETY,
    ShavingReason.NO_FORECAST_YET: _PEAK,
    ShavingReason.ABOVE_LIMIT: _PEAK,
    ShavingReason.ABOVE_BILLED_PEAK: _PEAK,
    ShavingReason.HEADROOM: _PEAK,
    ShavingReason.WITHIN_LIMIT: _PEAK,
    ShavingReason.BATTERY_EMPTY: _SAFETY,
    ShavingReason.BATTERY_POWER_TOO_SMALL: _SAFETY,
    ShavingReason.LIMIT_CANNOT_BE_HELD_AHEAD: _PEAK,
    ShavingReason.BATTERY_VOLTAGE_LOW: _SAFETY,
    ShavingReason.BATTERY_VOLTAGE_HIGH: _SAFETY,
    ShavingReason.PHASE_LIMIT: _SAFETY,
    ShavingReason.PHASE_LIMIT_CANNOT_BE_HELD: _SAFETY,
    ShavingReason.PHASES_UNAVAILABLE: _SAFETY,
    # The wallbox: the user's modes and targets, the sun, the site's limits;
    # a phase switch's stop and pause protect the car and the contactor.
    ChargingReason.STARTED: _OWN,
    ChargingReason.OFF: _USER,
    ChargingReason.NOT_CONNECTED: _SAFETY,
    ChargingReason.TARGET_REACHED: _USER,
    ChargingReason.FAST: _USER,
    ChargingReason.INPUTS_UNAVAILABLE: _SAFETY,
    ChargingReason.SURPLUS: _OWN,
    ChargingReason.SURPLUS_TOO_SMALL: _OWN,
    ChargingReason.SURPLUS_GONE: _OWN,
    ChargingReason.DEADLINE: _USER,
    ChargingReason.PEAK_LIMIT: _PEAK,
    ChargingReason.PHASE_LIMIT: _SAFETY,
    ChargingReason.GRID_LIMIT: _SAFETY,
    ChargingReason.STOPPING: _SAFETY,
    ChargingReason.PHASES: _SAFETY,
    ChargingReason.PAUSING: _SAFETY,
    ChargingReason.RESUMED: _OWN,
    # Flexible loads: the plan's needs and prices; a boost is the user's;
    # minimum times and a run that must not stop protect the appliance.
    LoadReason.SOAKING_SURPLUS: _OWN,
    LoadReason.MEETING_NEED: _PLAN,
    LoadReason.CHEAP_HOUR: _PLAN,
    LoadReason.MIN_ON_TIME: _SAFETY,
    LoadReason.MIN_OFF_TIME: _SAFETY,
    LoadReason.UNINTERRUPTED_RUN: _SAFETY,
    LoadReason.AVOIDING_IMPORT: _PLAN,
    LoadReason.WAITING: _PLAN,
    LoadReason.NEED_MET: _PLAN,
    LoadReason.OUTSIDE_WINDOW: _PLAN,
    LoadReason.BOOST: _USER,
    LoadReason.PEAK_LIMIT: _PEAK,
    LoadReason.GRID_LIMIT: _SAFETY,
}


def layer_of(reason: StrEnum) -> Layer:
    """Return the layer a controller's reason speaks for (KeyError: unknown)."""
    return LAYERS[reason]


def layer_name(layer: Layer) -> str:
    """Return a layer as an entity shows it: ``peak_limit``."""
    return layer.name.lower()
