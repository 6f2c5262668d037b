"""The common value model: canonical keys, units, readings and identities.

Every driver reports what it measures under one of the canonical keys below,
in the key's unit, with one sign convention for the whole project:

- grid power > 0 is import from the grid, < 0 is export;
- battery power and current > 0 is charging;
- PV power >= 0.

A value a device marks as not implemented, or one that cannot be trusted, is
absent from the readings, never 0.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
import math


class Unit(StrEnum):
    """Units of the common value model."""

    WATT = "W"
    WATT_HOUR = "Wh"
    VOLT = "V"
    AMPERE = "A"
    PERCENT = "%"
    CELSIUS = "°C"
    HERTZ = "Hz"
    VOLT_AMPERE = "VA"
    VOLT_AMPERE_REACTIVE = "var"
    NONE = ""


@dataclass(frozen=True, slots=True)
class Quantity:
    """What a canonical key means: its unit and a sentence for the README."""

    key: str
    unit: Unit
    description: str
    # The range a physical value of this kind can take anywhere this
    # integration is used; a decoded value outside it is a bad read, not data.
    valid_min: float = -math.inf
    valid_max: float = math.inf


def _phases(
    key: str, unit: Unit, description: str, valid_min: float, valid_max: float
) -> list[Quantity]:
    """Return the per-phase quantities l1..l3 of a quantity."""
    return [
        Quantity(
            f"{key}_l{phase}",
            unit,
            f"{description}, phase L{phase}",
            valid_min,
            valid_max,
        )
        for phase in (1, 2, 3)
    ]


# One megawatt and one hundred kiloamperes bound anything on a home or a small
# mini-grid connection; gigawatt-hours bound any energy counter.
_MAX_POWER = 1e6
_MAX_CURRENT = 1e5
_MAX_ENERGY = 1e12

QUANTITIES: Mapping[str, Quantity] = {
    quantity.key: quantity
    for quantity in (
        Quantity(
            "grid_power",
            Unit.WATT,
            "Active power at the grid connection; > 0 import, < 0 export",
            -_MAX_POWER,
            _MAX_POWER,
        ),
        *_phases(
            "grid_power",
            Unit.WATT,
            "Active power at the grid connection; > 0 import",
            -_MAX_POWER,
            _MAX_POWER,
        ),
        Quantity(
            "grid_reactive_power",
            Unit.VOLT_AMPERE_REACTIVE,
            "Reactive power at the grid connection",
            -_MAX_POWER,
            _MAX_POWER,
        ),
        Quantity(
            "grid_apparent_power",
            Unit.VOLT_AMPERE,
            "Apparent power at the grid connection",
            0,
            _MAX_POWER,
        ),
        Quantity(
            "grid_power_factor",
            Unit.NONE,
            "Power factor at the grid connection (-1..1)",
            -1.0,
            1.0,
        ),
        Quantity(
            "grid_import_energy",
            Unit.WATT_HOUR,
            "Energy imported from the grid, lifetime total",
            0,
            _MAX_ENERGY,
        ),
        *_phases(
            "grid_import_energy",
            Unit.WATT_HOUR,
            "Energy imported from the grid, lifetime total",
            0,
            _MAX_ENERGY,
        ),
        Quantity(
            "grid_export_energy",
            Unit.WATT_HOUR,
            "Energy exported to the grid, lifetime total",
            0,
            _MAX_ENERGY,
        ),
        *_phases(
            "grid_export_energy",
            Unit.WATT_HOUR,
            "Energy exported to the grid, lifetime total",
            0,
            _MAX_ENERGY,
        ),
        Quantity("pv_power", Unit.WATT, "PV power, always >= 0", 0, _MAX_POWER),
        Quantity(
            "pv_energy",
            Unit.WATT_HOUR,
            "PV energy produced, lifetime total",
            0,
            _MAX_ENERGY,
        ),
        Quantity(
            "ac_power",
            Unit.WATT,
            "Inverter AC power; > 0 feeding the AC side",
            -_MAX_POWER,
            _MAX_POWER,
        ),
        *_phases("ac_voltage", Unit.VOLT, "AC voltage to neutral", 0, 1000),
        Quantity("ac_voltage_l1_l2", Unit.VOLT, "AC voltage L1 to L2", 0, 1000),
        Quantity("ac_voltage_l2_l3", Unit.VOLT, "AC voltage L2 to L3", 0, 1000),
        Quantity("ac_voltage_l3_l1", Unit.VOLT, "AC voltage L3 to L1", 0, 1000),
        *_phases("ac_current", Unit.AMPERE, "AC current (magnitude)", 0, _MAX_CURRENT),
        Quantity(
            "ac_current_neutral",
            Unit.AMPERE,
            "AC current in the neutral conductor",
            0,
            _MAX_CURRENT,
        ),
        *_phases("ac_power_factor", Unit.NONE, "Power factor (-1..1)", -1.0, 1.0),
        # A meter reads 0 Hz with no voltage on its terminals; anything else
        # outside the band no grid or inverter runs at is a bad read.
        Quantity("frequency", Unit.HERTZ, "AC frequency", 0, 100),
        Quantity("battery_voltage", Unit.VOLT, "Battery voltage", 0, 2000),
        Quantity(
            "battery_current",
            Unit.AMPERE,
            "Battery current; > 0 charging",
            -_MAX_CURRENT,
            _MAX_CURRENT,
        ),
        Quantity(
            "battery_power",
            Unit.WATT,
            "Battery power; > 0 charging",
            -_MAX_POWER,
            _MAX_POWER,
        ),
        Quantity("battery_soc", Unit.PERCENT, "Battery state of charge", 0, 100),
        Quantity("battery_temperature", Unit.CELSIUS, "Battery temperature", -60, 150),
        Quantity("cell_voltage_min", Unit.VOLT, "Lowest cell voltage", 0, 10),
        Quantity("cell_voltage_max", Unit.VOLT, "Highest cell voltage", 0, 10),
    )
}


@dataclass(frozen=True, slots=True)
class Reading:
    """One value a device reported, in its canonical unit.

    ``timestamp`` is wall-clock seconds since the epoch, taken when the answer
    carrying the value arrived.
    """

    key: str
    value: float
    unit: Unit
    timestamp: float


type Readings = Mapping[str, Reading]


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a device says it is."""

    manufacturer: str
    model: str
    serial_number: str
    firmware: str | None = None


def make_reading(key: str, value: float, timestamp: float) -> Reading | None:
    """Return a reading for a canonical key, or None when it cannot be trusted.

    NaN, infinities and values outside what the quantity can physically be are
    bad reads: showing them would show a wrong number, so they are dropped.
    """
    quantity = QUANTITIES[key]
    if not math.isfinite(value):
        return None
    if not quantity.valid_min <= value <= quantity.valid_max:
        return None
    return Reading(key, value, quantity.unit, timestamp)
