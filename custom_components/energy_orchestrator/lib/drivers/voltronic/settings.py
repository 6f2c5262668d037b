"""The PI30 settings a battery manager changes: requests, limits, read-back.

Every setter answers ``(ACK`` when the inverter took the value and ``(NAK``
when it did not; the value is then read back from QPIRI, the one answer
that holds every setting.

- Output source priority, ``POP<NN>``: 00 utility first, 01 solar first,
  02 solar-battery-utility (SBU). QPIRI field 17.
- Charger source priority, ``PCP<NN>``: 00 utility first, 01 solar first,
  02 solar and utility, 03 solar only. HS and KS firmware take all four,
  MS/MKS firmware not 02, MAX firmware not 00; a code the firmware does not
  take is answered NAK. QPIRI field 18.
- Battery cut-off voltage ``PSDV<nn.n>``, C.V. (bulk) charging voltage
  ``PCVV<nn.n>`` and float voltage ``PBFT<nn.n>``: the documents give
  40.0-48.0 V and 48.0-58.4 V for a 48 V unit; 12 V and 24 V units take a
  quarter and a half of that (the documents' defaults scale the same way).
  QPIRI fields 10, 11 and 12, in steps of 0.1 V.
- Maximum charging current (PV and utility together): ``MNCHGC<mnnn>``
  (every firmware from 2014 on, MAX included; ``m`` is the unit in a
  parallel system, 0 for a single inverter) and, for firmware that does not
  know it, ``MCHGC<nnn>`` (below 100 A; read as ``<mnn>`` by HS/MS firmware,
  which ``0nn`` satisfies too). The values an inverter takes come from
  QMCHGCR; one that does not answer it is offered ``DEFAULT_CHARGE_CURRENTS``,
  the list an Axpert MKS answers, and refuses (NAK) what it cannot do.
  QPIRI field 15.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from ..commands import CommandKind, CommandSpec
from .queries import CHARGER_SOURCE_PRIORITIES, OUTPUT_SOURCE_PRIORITIES

NOMINAL_48V = 48.0
# What a battery rating can be; anything else is read as 48 V, the most
# common rating and the one the documents give limits for.
BATTERY_RATINGS = (12.0, 24.0, 48.0)


@dataclass(frozen=True, slots=True)
class OptionSetting:
    """A setting chosen from a list of codes."""

    prefix: str
    field: str
    # Option id → code, in the device's order.
    codes: Mapping[str, str]

    def request(self, option: str) -> str:
        """Return the setter for an option (``POP02``)."""
        return f"{self.prefix}{int(self.codes[option]):02d}"


@dataclass(frozen=True, slots=True)
class VoltageSetting:
    """A battery voltage, with its limits for a 48 V unit."""

    prefix: str
    field: str
    minimum_48v: float
    maximum_48v: float

    def limits(self, battery_rating: float | None) -> tuple[float, float]:
        """Return the limits for a battery of the rating given (V)."""
        rating = NOMINAL_48V
        if battery_rating is not None and battery_rating in BATTERY_RATINGS:
            rating = battery_rating
        scale = rating / NOMINAL_48V
        return round(self.minimum_48v * scale, 1), round(self.maximum_48v * scale, 1)

    def request(self, volts: float) -> str:
        """Return the setter for a voltage (``PSDV44.0``)."""
        return f"{self.prefix}{volts:04.1f}"


def _codes(options: Mapping[str, str]) -> dict[str, str]:
    """Return option id → code from a code → option id table."""
    return {option: code for code, option in options.items()}


OPTION_SETTINGS: Mapping[CommandKind, OptionSetting] = {
    CommandKind.OUTPUT_SOURCE_PRIORITY: OptionSetting(
        "POP", "output_source_priority", _codes(OUTPUT_SOURCE_PRIORITIES)
    ),
    CommandKind.CHARGER_SOURCE_PRIORITY: OptionSetting(
        "PCP", "charger_source_priority", _codes(CHARGER_SOURCE_PRIORITIES)
    ),
}

VOLTAGE_SETTINGS: Mapping[CommandKind, VoltageSetting] = {
    CommandKind.BATTERY_CUTOFF_VOLTAGE: VoltageSetting(
        "PSDV", "battery_under_voltage", 40.0, 48.0
    ),
    CommandKind.BATTERY_BULK_VOLTAGE: VoltageSetting(
        "PCVV", "battery_bulk_voltage", 48.0, 58.4
    ),
    CommandKind.BATTERY_FLOAT_VOLTAGE: VoltageSetting(
        "PBFT", "battery_float_voltage", 48.0, 58.4
    ),
}
VOLTAGE_STEP = 0.1

CHARGE_CURRENT_FIELD = "max_charging_current"
DEFAULT_CHARGE_CURRENTS: tuple[int, ...] = tuple(range(10, 121, 10))
# Charging currents MCHGC can carry (three digits, read as "0nn" by HS/MS).
_MCHGC_LIMIT = 100
# A single inverter; in a parallel system each unit is set on its own.
PARALLEL_UNIT = 0


def charge_current_requests(amperes: int) -> list[str]:
    """Return the setters that may carry a charging current, preferred first."""
    requests = [f"MNCHGC{PARALLEL_UNIT}{amperes:03d}"]
    if amperes < _MCHGC_LIMIT:
        requests.append(f"MCHGC{PARALLEL_UNIT}{amperes:02d}")
    return requests


def read_back_field(kind: CommandKind) -> str:
    """Return the QPIRI field holding the setting a command changes."""
    if kind in OPTION_SETTINGS:
        return OPTION_SETTINGS[kind].field
    if kind in VOLTAGE_SETTINGS:
        return VOLTAGE_SETTINGS[kind].field
    if kind is CommandKind.BATTERY_CHARGE_CURRENT:
        return CHARGE_CURRENT_FIELD
    raise KeyError(kind)


def _common_step(values: Sequence[int]) -> float | None:
    """Return the step between evenly spaced values, or None."""
    steps = {b - a for a, b in pairwise(values)}
    return float(steps.pop()) if len(steps) == 1 else None


def command_specs(
    battery_rating: float | None, charge_currents: Sequence[int]
) -> dict[CommandKind, CommandSpec]:
    """Return what an inverter of a battery rating can be told.

    ``charge_currents`` are the charging currents it takes, ascending.
    """
    specs: dict[CommandKind, CommandSpec] = {
        kind: CommandSpec(kind, options=tuple(setting.codes))
        for kind, setting in OPTION_SETTINGS.items()
    }
    for kind, voltage in VOLTAGE_SETTINGS.items():
        minimum, maximum = voltage.limits(battery_rating)
        specs[kind] = CommandSpec(
            kind,
            unit="V",
            minimum=minimum,
            maximum=maximum,
            step=VOLTAGE_STEP,
            # QPIRI shows one decimal, the setter takes one.
            tolerance=0.05,
        )
    if charge_currents:
        specs[CommandKind.BATTERY_CHARGE_CURRENT] = CommandSpec(
            CommandKind.BATTERY_CHARGE_CURRENT,
            unit="A",
            minimum=float(charge_currents[0]),
            maximum=float(charge_currents[-1]),
            step=_common_step(charge_currents),
        )
    return specs
