"""PI30 answers in the common value model: canonical keys, signs, derived values.

QPIGS gives the inverter's live values. Its battery current comes as two
magnitudes, charging and discharging; the value model's current is their
difference (> 0 charging) and the battery power is voltage times current.

PV: the field the vendor calls "PV input current for battery" is, on PI30
firmware, the current the solar charger drives into the battery, not the
current drawn from the panels (a captured answer reports 14 A at 103.8 V
beside 856 W of PV power: 14 A at the battery's 57.45 V is 804 W, at the
panels' voltage it would be 1453 W). So:

- ``pv_power`` is the "PV charging power" field where firmware sends it
  (21 fields and more), else that current times the battery voltage the
  charger measures (as older firmware's own display computes it);
- ``pv_current`` is ``pv_power`` over the PV voltage, the current the
  panels really give; it is absent when there is power but no voltage.

The heat sink temperature is in °C, except on 1-3 kVA models, which the
documents say send an NTC A/D value instead; such values mostly lie beyond
what a temperature can be and are dropped by the value model's bounds.

QMOD gives the mode; a QPIWS fault bit makes it "fault" whatever QMOD says,
since the inverter has stopped or is about to.

QPIRI gives settings: the bulk (C.V.) voltage is the highest voltage the
battery is charged to, the "battery under voltage" the cut-off.
"""

from collections.abc import Mapping

from .queries import MODE_OPTIONS, FieldValue, InverterMode, Record, Warnings

# Canonical key ← QPIGS field, where the value passes unchanged.
STATUS_FIELDS: Mapping[str, str] = {
    "ac_input_voltage": "grid_voltage",
    "ac_input_frequency": "grid_frequency",
    "ac_output_voltage": "ac_output_voltage",
    "ac_output_frequency": "ac_output_frequency",
    "ac_output_apparent_power": "ac_output_apparent_power",
    "ac_output_power": "ac_output_active_power",
    "ac_output_load": "ac_output_load",
    "dc_bus_voltage": "bus_voltage",
    "battery_voltage": "battery_voltage",
    "battery_soc": "battery_capacity",
    "inverter_temperature": "heat_sink_temperature",
    "pv_voltage": "pv_input_voltage",
}
DERIVED_STATUS_KEYS: tuple[str, ...] = (
    "battery_current",
    "battery_power",
    "pv_power",
    "pv_current",
)
STATUS_KEYS: tuple[str, ...] = (*STATUS_FIELDS, *DERIVED_STATUS_KEYS)

MODE_KEY = "inverter_mode"

# Canonical key ← QPIRI field.
RATING_FIELDS: Mapping[str, str] = {
    "battery_charge_voltage_limit": "battery_bulk_voltage",
    "battery_discharge_voltage_limit": "battery_under_voltage",
}
RATING_KEYS: tuple[str, ...] = tuple(RATING_FIELDS)


def number(value: FieldValue) -> float | None:
    """Return a field's value if it is a number."""
    return value if isinstance(value, float) else None


def status_values(status: Record) -> dict[str, float | None]:
    """Return the canonical values of a parsed QPIGS answer."""
    values = {key: number(status.get(field)) for key, field in STATUS_FIELDS.items()}
    voltage = values["battery_voltage"]
    charging = number(status.get("battery_charging_current"))
    discharging = number(status.get("battery_discharge_current"))
    current = None
    if charging is not None and discharging is not None:
        current = charging - discharging
    values["battery_current"] = current
    values["battery_power"] = (
        voltage * current if voltage is not None and current is not None else None
    )
    pv_power = number(status.get("pv_charging_power"))
    if pv_power is None:
        charger_current = number(status.get("pv_input_current_for_battery"))
        charger_voltage = number(status.get("battery_voltage_from_scc")) or voltage
        if charger_current is not None and charger_voltage is not None:
            pv_power = charger_current * charger_voltage
    values["pv_power"] = pv_power
    pv_voltage = values["pv_voltage"]
    pv_current = None
    if pv_power is not None and pv_voltage is not None:
        if pv_voltage > 0:
            pv_current = pv_power / pv_voltage
        elif pv_power == 0:
            pv_current = 0.0
    values["pv_current"] = pv_current
    return values


def mode_value(mode: InverterMode | None, warnings: Warnings | None) -> str | None:
    """Return the canonical inverter mode from QMOD and QPIWS, either may lack."""
    if warnings is not None and warnings.fault:
        return "fault"
    if mode is None:
        return None
    return MODE_OPTIONS[mode]


def rating_values(ratings: Record) -> dict[str, float | None]:
    """Return the canonical values of a parsed QPIRI answer."""
    return {key: number(ratings.get(field)) for key, field in RATING_FIELDS.items()}
