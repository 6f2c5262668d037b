"""The battery manager's settings: kept in the entry's options, checked as a whole.

The options flow, and the coordinator for the threshold numbers and the
set-thresholds action, check settings through ``validate_options``, so one
check (a floor above the ceiling, a cut-off above the absorb voltage) guards
every way in. The price plan's tariff (a fixed import price, prices by time
of day, or a price entity) reads as the flexible loads' does: their
schedule parser here, their price readers in the coordinator.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, time, tzinfo
from typing import Any, Literal

from homeassistant.helpers.selector import (
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TextSelector,
    TimeSelector,
)
import probatio

from ..const import CONF_IMPORT_PRICE, CONF_IMPORT_PRICE_ENTITY, CONF_TIME_OF_USE
from ..controller.selectors import choice_picker
from ..flexible_loads.settings import parse_time_of_use
from ..lib.control.battery_manager import (
    BatteryManagerSettings,
    Chemistry,
    SettingsError,
)
from ..lib.control.battery_model import cell_ocv
from ..lib.control.flexible_loads.tariff import FixedPrice, PriceSource, TariffError

SETTING_CHEMISTRY = "chemistry"
SETTING_CELLS_IN_SERIES = "cells_in_series"
SETTING_CAPACITY_AH = "capacity_ah"
SETTING_SOC_FLOOR = "soc_floor"
SETTING_SOC_CEILING = "soc_ceiling"
SETTING_CELL_VOLTAGE_MIN = "cell_voltage_min"
SETTING_CELL_VOLTAGE_MAX = "cell_voltage_max"
SETTING_TAIL_CURRENT_A = "tail_current_a"
SETTING_MIN_REST_MINUTES = "min_rest_minutes"
SETTING_CHARGE_WINDOW_START = "charge_window_start"
SETTING_CHARGE_WINDOW_END = "charge_window_end"
SETTING_SELL_WINDOW_START = "sell_window_start"
SETTING_SELL_WINDOW_END = "sell_window_end"
SETTING_MAX_CHARGE_CURRENT_A = "max_charge_current_a"
SETTING_MAX_DISCHARGE_CURRENT_A = "max_discharge_current_a"
# The price plan (the tariff's import price: fixed, by time of day, or an
# entity's; the flexible loads' fields and readers).
SETTING_IMPORT_PRICE = CONF_IMPORT_PRICE
SETTING_TIME_OF_USE = CONF_TIME_OF_USE
SETTING_PRICE_ENTITY = CONF_IMPORT_PRICE_ENTITY
SETTING_CYCLE_COST = "cycle_cost_per_kwh"
SETTING_ROUND_TRIP_EFFICIENCY = "round_trip_efficiency"
DEFAULT_ROUND_TRIP_EFFICIENCY = 90.0
_PRICES = (SETTING_IMPORT_PRICE, SETTING_TIME_OF_USE, SETTING_PRICE_ENTITY)

_WINDOWS = (
    (SETTING_CHARGE_WINDOW_START, SETTING_CHARGE_WINDOW_END),
    (SETTING_SELL_WINDOW_START, SETTING_SELL_WINDOW_END),
)


def _box(
    minimum: float, maximum: float, unit: str, step: float | Literal["any"] = "any"
) -> Any:
    """Return a number box with a range and unit."""
    return probatio.All(
        NumberSelector(
            NumberSelectorConfig(
                min=minimum,
                max=maximum,
                step=step,
                unit_of_measurement=unit,
                mode=NumberSelectorMode.BOX,
            )
        ),
        probatio.Coerce(float),
    )


def options_schema() -> probatio.Schema:
    """Return the options form."""
    return probatio.Schema(
        {
            probatio.Required(SETTING_CHEMISTRY): choice_picker(
                Chemistry, SETTING_CHEMISTRY
            ),
            probatio.Required(SETTING_CELLS_IN_SERIES): probatio.All(
                _box(1, 400, "cells", 1), probatio.Coerce(int)
            ),
            probatio.Required(SETTING_CAPACITY_AH): _box(1, 100000, "Ah"),
            probatio.Required(SETTING_SOC_FLOOR): _box(0, 100, "%", 1),
            probatio.Required(SETTING_SOC_CEILING): _box(0, 100, "%", 1),
            probatio.Required(SETTING_CELL_VOLTAGE_MIN): _box(1.5, 4.5, "V", 0.01),
            probatio.Required(SETTING_CELL_VOLTAGE_MAX): _box(1.5, 4.5, "V", 0.01),
            probatio.Required(SETTING_TAIL_CURRENT_A): _box(0, 10000, "A"),
            probatio.Required(SETTING_MIN_REST_MINUTES): _box(0, 24 * 60, "min", 1),
            probatio.Optional(SETTING_CHARGE_WINDOW_START): TimeSelector(),
            probatio.Optional(SETTING_CHARGE_WINDOW_END): TimeSelector(),
            probatio.Optional(SETTING_SELL_WINDOW_START): TimeSelector(),
            probatio.Optional(SETTING_SELL_WINDOW_END): TimeSelector(),
            probatio.Optional(SETTING_MAX_CHARGE_CURRENT_A): _box(0, 10000, "A"),
            probatio.Optional(SETTING_MAX_DISCHARGE_CURRENT_A): _box(0, 10000, "A"),
            probatio.Optional(SETTING_IMPORT_PRICE): _box(-10, 100, "/kWh"),
            probatio.Optional(SETTING_TIME_OF_USE): TextSelector(),
            probatio.Optional(SETTING_PRICE_ENTITY): EntitySelector(
                EntitySelectorConfig(domain=["sensor", "event"])
            ),
            probatio.Optional(SETTING_CYCLE_COST, default=0.0): _box(0, 10, "/kWh"),
            probatio.Optional(
                SETTING_ROUND_TRIP_EFFICIENCY, default=DEFAULT_ROUND_TRIP_EFFICIENCY
            ): _box(1, 100, "%", 1),
        }
    )


def _window(
    options: Mapping[str, Any], start: str, end: str
) -> tuple[time, time] | None:
    """Return a clock-time window from the options, None when not set."""
    if not options.get(start) or not options.get(end):
        return None
    return (time.fromisoformat(options[start]), time.fromisoformat(options[end]))


def settings_from_options(options: Mapping[str, Any]) -> BatteryManagerSettings:
    """Build the control layer's settings from an entry's options."""
    return BatteryManagerSettings(
        chemistry=Chemistry(options[SETTING_CHEMISTRY]),
        cells_in_series=int(options[SETTING_CELLS_IN_SERIES]),
        capacity_ah=float(options[SETTING_CAPACITY_AH]),
        soc_floor=float(options[SETTING_SOC_FLOOR]),
        soc_ceiling=float(options[SETTING_SOC_CEILING]),
        cell_voltage_min=float(options[SETTING_CELL_VOLTAGE_MIN]),
        cell_voltage_max=float(options[SETTING_CELL_VOLTAGE_MAX]),
        tail_current_a=float(options[SETTING_TAIL_CURRENT_A]),
        min_rest_s=float(options[SETTING_MIN_REST_MINUTES]) * 60,
        charge_window=_window(options, *_WINDOWS[0]),
        sell_window=_window(options, *_WINDOWS[1]),
        max_charge_current_a=options.get(SETTING_MAX_CHARGE_CURRENT_A),
        max_discharge_current_a=options.get(SETTING_MAX_DISCHARGE_CURRENT_A),
    )


def default_options(
    chemistry: Chemistry, cells_in_series: int, capacity_ah: float
) -> dict[str, Any]:
    """Return the options of a new battery manager: the chemistry's defaults."""
    settings = BatteryManagerSettings.defaults(chemistry, cells_in_series, capacity_ah)
    options: dict[str, Any] = {
        SETTING_CHEMISTRY: settings.chemistry.value,
        SETTING_CELLS_IN_SERIES: settings.cells_in_series,
        SETTING_CAPACITY_AH: settings.capacity_ah,
        SETTING_SOC_FLOOR: settings.soc_floor,
        SETTING_SOC_CEILING: settings.soc_ceiling,
        SETTING_CELL_VOLTAGE_MIN: settings.cell_voltage_min,
        SETTING_CELL_VOLTAGE_MAX: settings.cell_voltage_max,
        SETTING_TAIL_CURRENT_A: settings.tail_current_a,
        SETTING_MIN_REST_MINUTES: settings.min_rest_s / 60,
    }
    return options


# Which form field a settings error belongs to, by the settings' field name.
_FIELD_OF = {
    "chemistry": SETTING_CHEMISTRY,
    "cells_in_series": SETTING_CELLS_IN_SERIES,
    "capacity_ah": SETTING_CAPACITY_AH,
    "soc_floor": SETTING_SOC_FLOOR,
    "soc_ceiling": SETTING_SOC_CEILING,
    "cell_voltage_min": SETTING_CELL_VOLTAGE_MIN,
    "cell_voltage_max": SETTING_CELL_VOLTAGE_MAX,
    "tail_current_a": SETTING_TAIL_CURRENT_A,
    "min_rest_s": SETTING_MIN_REST_MINUTES,
    "charge_window": SETTING_CHARGE_WINDOW_START,
    "sell_window": SETTING_SELL_WINDOW_START,
    "max_charge_current_a": SETTING_MAX_CHARGE_CURRENT_A,
    "max_discharge_current_a": SETTING_MAX_DISCHARGE_CURRENT_A,
}


@dataclass(frozen=True)
class PricePlanSettings:
    """The price plan's settings: where the import price comes from, the battery's costs."""

    # A fixed price or a time-of-use schedule; None with an entity's prices.
    fixed: PriceSource | None
    entity_id: str | None
    cycle_cost_per_kwh: float
    round_trip_efficiency: float  # 0..1


def price_plan_settings(
    options: Mapping[str, Any], timezone: tzinfo
) -> PricePlanSettings | None:
    """Return the price plan's settings, None without a price (the windows decide).

    Raises TariffError for a schedule that cannot be read.
    """
    fixed: PriceSource | None = None
    if schedule := options.get(SETTING_TIME_OF_USE):
        fixed = parse_time_of_use(schedule, timezone)
    elif options.get(SETTING_IMPORT_PRICE) is not None:
        fixed = FixedPrice(float(options[SETTING_IMPORT_PRICE]))
    entity_id = options.get(SETTING_PRICE_ENTITY) or None
    if fixed is None and entity_id is None:
        return None
    return PricePlanSettings(
        fixed,
        entity_id,
        float(options.get(SETTING_CYCLE_COST, 0.0)),
        float(options.get(SETTING_ROUND_TRIP_EFFICIENCY, DEFAULT_ROUND_TRIP_EFFICIENCY))
        / 100,
    )


def nominal_voltage(settings: BatteryManagerSettings) -> float:
    """Return the battery's voltage at half charge: Ah to Wh."""
    return settings.cells_in_series * cell_ocv(settings.chemistry, 0.5)


def validate_options(
    options: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """Check settings as a whole; return them, errors by field, placeholders."""
    cleaned = {k: v for k, v in options.items() if v not in (None, "")}
    errors: dict[str, str] = {}
    placeholders = {"error": ""}
    for start, end in _WINDOWS:
        if (start in cleaned) != (end in cleaned):
            errors[start] = "window_incomplete"
    if sum(key in cleaned for key in _PRICES) > 1:
        # Which would the import price be? One source.
        errors[SETTING_TIME_OF_USE] = "price_twice"
    if errors:
        return cleaned, errors, placeholders
    try:
        price_plan_settings(cleaned, UTC)
    except TariffError as err:
        placeholders["error"] = str(err)
        return cleaned, {SETTING_TIME_OF_USE: "invalid_time_of_use"}, placeholders
    try:
        settings_from_options(cleaned).validate()
    except SettingsError as err:
        errors[_FIELD_OF.get(err.field, "base")] = err.code
        placeholders["error"] = str(err)
    return cleaned, errors, placeholders
