"""The common value model: canonical keys, units, readings and identities.

Every driver reports what it measures under one of the canonical keys below,
in the key's unit, with one sign convention for the whole project:

- grid power > 0 is import from the grid, < 0 is export;
- battery power and current > 0 is charging;
- PV power >= 0.

A value a device marks as not implemented, or one that cannot be trusted, is
absent from the readings, never 0. A value is rounded to its quantity's
resolution (``UNIT_DECIMALS``, ``Quantity.resolution``).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
import math

from ..rounding import (
    AMPERE_DECIMALS,
    AMPERE_HOUR_DECIMALS,
    CELSIUS_DECIMALS,
    HERTZ_DECIMALS,
    PERCENT_DECIMALS,
    RATIO_DECIMALS,
    VOLT_DECIMALS,
    WATT_DECIMALS,
    WATT_HOUR_DECIMALS,
    rounded,
)


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
    AMPERE_HOUR = "Ah"
    NONE = ""


# The resolution of each unit, in decimals (``lib/rounding.py``). A quantity
# measured more finely says so (``Quantity.resolution``).
UNIT_DECIMALS: Mapping[Unit, int] = {
    Unit.WATT: WATT_DECIMALS,
    Unit.WATT_HOUR: WATT_HOUR_DECIMALS,
    Unit.VOLT: VOLT_DECIMALS,
    Unit.AMPERE: AMPERE_DECIMALS,
    Unit.PERCENT: PERCENT_DECIMALS,
    Unit.CELSIUS: CELSIUS_DECIMALS,
    Unit.HERTZ: HERTZ_DECIMALS,
    Unit.VOLT_AMPERE: WATT_DECIMALS,
    Unit.VOLT_AMPERE_REACTIVE: WATT_DECIMALS,
    Unit.AMPERE_HOUR: AMPERE_HOUR_DECIMALS,
    Unit.NONE: RATIO_DECIMALS,
}


@dataclass(frozen=True, slots=True)
class Quantity:
    """What a canonical key means: its unit and a sentence for docs/devices.md."""

    key: str
    unit: Unit
    description: str
    # The range a physical value of this kind can take anywhere this
    # integration is used; a decoded value outside it is a bad read, not data.
    valid_min: float = -math.inf
    valid_max: float = math.inf
    # An enumerated quantity (an inverter's mode) takes one of these strings.
    options: tuple[str, ...] | None = None
    # The resolution in decimals where it differs from the unit's (a cell's
    # millivolts, a count of cycles: 0).
    resolution: int | None = None

    @property
    def decimals(self) -> int:
        """Return the decimals a value of this quantity is rounded to."""
        return UNIT_DECIMALS[self.unit] if self.resolution is None else self.resolution

    def round(self, value: float) -> float:
        """Return a value rounded to the quantity's resolution.

        A value of whole units (cycles, phases, Wh) is an int.
        """
        if self.decimals == 0:
            return round(value)
        return rounded(value, self.decimals)


def _phases(
    key: str,
    unit: Unit,
    description: str,
    valid_min: float,
    valid_max: float,
    *,
    resolution: int | None = None,
) -> list[Quantity]:
    """Return the per-phase quantities l1..l3 of a quantity."""
    return [
        Quantity(
            f"{key}_l{phase}",
            unit,
            f"{description}, phase L{phase}",
            valid_min,
            valid_max,
            resolution=resolution,
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
        # A meter measures its phase currents to the milliampere.
        *_phases(
            "ac_current",
            Unit.AMPERE,
            "AC current (magnitude)",
            0,
            _MAX_CURRENT,
            resolution=3,
        ),
        Quantity(
            "ac_current_neutral",
            Unit.AMPERE,
            "AC current in the neutral conductor",
            0,
            _MAX_CURRENT,
            resolution=3,
        ),
        *_phases("ac_power_factor", Unit.NONE, "Power factor (-1..1)", -1.0, 1.0),
        # A meter reads 0 Hz with no voltage on its terminals; anything else
        # outside the band no grid or inverter runs at is a bad read.
        Quantity("frequency", Unit.HERTZ, "AC frequency", 0, 100),
        # A BMS measures its pack to the millivolt and milliampere, and a
        # cell: the imbalance between the highest and the lowest is a few mV.
        Quantity(
            "battery_voltage", Unit.VOLT, "Battery voltage", 0, 2000, resolution=3
        ),
        Quantity(
            "battery_current",
            Unit.AMPERE,
            "Battery current; > 0 charging",
            -_MAX_CURRENT,
            _MAX_CURRENT,
            resolution=3,
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
        Quantity(
            "cell_voltage_min", Unit.VOLT, "Lowest cell voltage", 0, 10, resolution=3
        ),
        Quantity(
            "cell_voltage_max", Unit.VOLT, "Highest cell voltage", 0, 10, resolution=3
        ),
        Quantity(
            "battery_charge_energy",
            Unit.WATT_HOUR,
            "Energy charged into the battery, lifetime total",
            0,
            _MAX_ENERGY,
        ),
        Quantity(
            "battery_discharge_energy",
            Unit.WATT_HOUR,
            "Energy discharged from the battery, lifetime total",
            0,
            _MAX_ENERGY,
        ),
        Quantity("battery_soh", Unit.PERCENT, "Battery state of health", 0, 100),
        Quantity(
            "battery_capacity",
            Unit.AMPERE_HOUR,
            "Battery capacity (full charge)",
            0,
            1e6,
        ),
        Quantity(
            "battery_remaining_capacity",
            Unit.AMPERE_HOUR,
            "Charge left in the battery",
            0,
            1e6,
        ),
        Quantity(
            "battery_cycles", Unit.NONE, "Charge cycles counted", 0, 1e6, resolution=0
        ),
        Quantity(
            "battery_charge_current_limit",
            Unit.AMPERE,
            "Largest charge current the battery accepts now",
            0,
            _MAX_CURRENT,
        ),
        Quantity(
            "battery_discharge_current_limit",
            Unit.AMPERE,
            "Largest discharge current the battery gives now",
            0,
            _MAX_CURRENT,
        ),
        Quantity(
            "battery_charge_voltage_limit",
            Unit.VOLT,
            "Highest voltage the battery may be charged to",
            0,
            2000,
            resolution=2,
        ),
        Quantity(
            "battery_discharge_voltage_limit",
            Unit.VOLT,
            "Lowest voltage the battery may be discharged to",
            0,
            2000,
            resolution=2,
        ),
        Quantity(
            "battery_alarm",
            Unit.NONE,
            "The worst alarm the BMS flags: a warning, or a protection that"
            " cuts the current",
            options=("none", "warning", "protection"),
        ),
        Quantity(
            "battery_permission",
            Unit.NONE,
            "What the BMS allows: charging, discharging, both or neither",
            options=(
                "charge_and_discharge",
                "charge_only",
                "discharge_only",
                "neither",
            ),
        ),
        Quantity(
            "battery_charge_request",
            Unit.NONE,
            "What the BMS asks the inverter: a force charge, a full charge",
            options=("none", "full_charge", "force_charge"),
        ),
        Quantity("pv_voltage", Unit.VOLT, "PV (DC) voltage", 0, 2000, resolution=2),
        Quantity("pv_current", Unit.AMPERE, "PV (DC) current", 0, _MAX_CURRENT),
        Quantity(
            "ac_energy",
            Unit.WATT_HOUR,
            "Inverter AC energy produced, lifetime total",
            0,
            _MAX_ENERGY,
        ),
        Quantity(
            "ac_apparent_power",
            Unit.VOLT_AMPERE,
            "Inverter AC apparent power",
            0,
            _MAX_POWER,
        ),
        Quantity(
            "ac_reactive_power",
            Unit.VOLT_AMPERE_REACTIVE,
            "Inverter AC reactive power",
            -_MAX_POWER,
            _MAX_POWER,
        ),
        Quantity(
            "ac_output_power",
            Unit.WATT,
            "Power an off-grid inverter supplies to its loads",
            0,
            _MAX_POWER,
        ),
        Quantity(
            "ac_output_apparent_power",
            Unit.VOLT_AMPERE,
            "Apparent power an off-grid inverter supplies to its loads",
            0,
            _MAX_POWER,
        ),
        Quantity("ac_output_voltage", Unit.VOLT, "Inverter output voltage", 0, 1000),
        Quantity(
            "ac_output_frequency", Unit.HERTZ, "Inverter output frequency", 0, 100
        ),
        Quantity("ac_output_load", Unit.PERCENT, "Inverter output load", 0, 1000),
        Quantity("ac_input_voltage", Unit.VOLT, "Grid input voltage", 0, 1000),
        Quantity("ac_input_frequency", Unit.HERTZ, "Grid input frequency", 0, 100),
        Quantity(
            "dc_bus_voltage",
            Unit.VOLT,
            "Inverter DC bus voltage",
            0,
            2000,
            resolution=2,
        ),
        Quantity(
            "inverter_temperature",
            Unit.CELSIUS,
            "Inverter (heat sink) temperature",
            -60,
            150,
        ),
        Quantity(
            "ac_power_factor",
            Unit.NONE,
            "Inverter power factor (-1..1)",
            -1.0,
            1.0,
        ),
        Quantity(
            "inverter_max_power",
            Unit.WATT,
            "The most AC power the inverter is set to give (SunSpec WMax)",
            0,
            _MAX_POWER,
        ),
        Quantity(
            "grid_connection",
            Unit.NONE,
            "Whether the inverter is connected to the grid",
            options=("connected", "disconnected"),
        ),
        Quantity(
            "inverter_mode",
            Unit.NONE,
            "What the inverter is doing",
            options=(
                "off",
                "sleeping",
                "starting",
                "standby",
                "grid",
                "battery",
                "bypass",
                "charging",
                "throttled",
                "fault",
                "shutting_down",
                "unknown",
            ),
        ),
        Quantity("load_power", Unit.WATT, "Power the site's loads draw", 0, _MAX_POWER),
        Quantity(
            "active_power_limit",
            Unit.PERCENT,
            "Active power limit set on the inverter",
            0,
            100,
        ),
        Quantity(
            "charger_power", Unit.WATT, "Power the wallbox delivers", 0, _MAX_POWER
        ),
        Quantity(
            "charger_energy",
            Unit.WATT_HOUR,
            "Energy the wallbox delivered, lifetime total",
            0,
            _MAX_ENERGY,
        ),
        Quantity(
            "charger_current",
            Unit.AMPERE,
            "Charging current the wallbox offers the car",
            0,
            100,
        ),
        Quantity(
            "charger_phases",
            Unit.NONE,
            "Phases the wallbox charges on",
            1,
            3,
            resolution=0,
        ),
        Quantity(
            "charger_status",
            Unit.NONE,
            "What the wallbox is doing",
            options=(
                "disconnected",
                "connected",
                "charging",
                "waiting",
                "error",
                "unknown",
            ),
        ),
    )
}


@dataclass(frozen=True, slots=True)
class Reading:
    """One value a device reported, in its canonical unit.

    ``timestamp`` is wall-clock seconds since the epoch, taken when the answer
    carrying the value arrived. ``key`` is a canonical key, or
    ``"<sub-device>/<canonical key>"`` for a value of a sub-device (an MPPT,
    a battery pack, a meter behind an inverter). An enumerated quantity's
    value is one of its options.
    """

    key: str
    value: float | str
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


SUB_DEVICE_SEPARATOR = "/"


def quantity_of(key: str) -> Quantity:
    """Return the quantity of a key, sub-device keys included.

    Raises KeyError for a key that is not canonical.
    """
    return QUANTITIES[key.rpartition(SUB_DEVICE_SEPARATOR)[2]]


def sub_device_key(sub_device: str, key: str) -> str:
    """Return the key of a sub-device's value (``"mppt1/pv_power"``)."""
    return f"{sub_device}{SUB_DEVICE_SEPARATOR}{key}"


def make_reading(key: str, value: float | str, timestamp: float) -> Reading | None:
    """Return a reading for a canonical key, or None when it cannot be trusted.

    NaN, infinities, values outside what the quantity can physically be, and
    an option an enumerated quantity does not have are bad reads: showing them
    would show a wrong number, so they are dropped. A number is rounded to
    its quantity's resolution, so no reading carries float noise or a -0.
    """
    quantity = quantity_of(key)
    if quantity.options is not None:
        if not isinstance(value, str) or value not in quantity.options:
            return None
        return Reading(key, value, quantity.unit, timestamp)
    if isinstance(value, str) or not math.isfinite(value):
        return None
    if not quantity.valid_min <= value <= quantity.valid_max:
        return None
    return Reading(key, quantity.round(value), quantity.unit, timestamp)
