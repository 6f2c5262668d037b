"""Commands to devices: what can be commanded, and within which limits.

A driver declares what it can be told, as ``CommandSpec`` entries with their
limits, and ``check`` tells whether a command keeps to them. Every command
passes through ``base.execute``, which checks it, carries it out, reads the
setting back and refuses to call a command done that the device did not
take. Controllers never write to a device any other way.
"""

from dataclasses import dataclass
from enum import StrEnum
import math

from .errors import DeviceError


class CommandKind(StrEnum):
    """What can be commanded, in the common value model's terms."""

    BATTERY_MODE = "battery_mode"  # charge / rest / sell / auto
    BATTERY_CHARGE_POWER = "battery_charge_power"  # W, largest charge power
    BATTERY_DISCHARGE_POWER = "battery_discharge_power"  # W
    BATTERY_CHARGE_CURRENT = "battery_charge_current"  # A, charger's maximum
    GRID_SETPOINT = "grid_setpoint"  # W at the grid connection, > 0 import
    ACTIVE_POWER_LIMIT = "active_power_limit"  # % of the inverter's rating
    EXPORT_LIMIT = "export_limit"  # W
    IMPORT_LIMIT = "import_limit"  # W
    OUTPUT_SOURCE_PRIORITY = "output_source_priority"  # utility / solar / sbu
    CHARGER_SOURCE_PRIORITY = "charger_source_priority"
    BATTERY_CUTOFF_VOLTAGE = "battery_cutoff_voltage"  # V
    BATTERY_FLOAT_VOLTAGE = "battery_float_voltage"  # V
    BATTERY_BULK_VOLTAGE = "battery_bulk_voltage"  # V
    CHARGER_CURRENT = "charger_current"  # A, wallbox
    CHARGER_PHASES = "charger_phases"  # 1 or 3
    CHARGER_ENABLED = "charger_enabled"  # on / off
    RELAY = "relay"  # on / off


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """What a device accepts for one kind of command."""

    kind: CommandKind
    unit: str = ""
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None
    options: tuple[str, ...] | None = None
    # How far a read-back value may be from the one written (devices round).
    tolerance: float = 0.0


@dataclass(frozen=True, slots=True)
class Command:
    """One instruction to a device; ``target`` names a sub-device, if any."""

    kind: CommandKind
    value: float | str
    target: str | None = None


class CommandRejectedError(DeviceError, ValueError):
    """A command the device does not support, or a value outside its limits.

    Nothing was sent to the device.
    """


class CommandNotConfirmedError(DeviceError):
    """The device answered, but reading the setting back shows another value."""


def check(spec: CommandSpec | None, command: Command) -> float | str:
    """Return the command's value if the spec allows it; raise otherwise."""
    if spec is None:
        raise CommandRejectedError(f"this device does not take {command.kind} commands")
    value = command.value
    if spec.options is not None:
        if not isinstance(value, str) or value not in spec.options:
            raise CommandRejectedError(
                f"{command.kind} must be one of {', '.join(spec.options)},"
                f" not {value!r}"
            )
        return value
    if isinstance(value, str | bool) or not math.isfinite(value):
        raise CommandRejectedError(f"{command.kind} needs a number, not {value!r}")
    unit = f" {spec.unit}" if spec.unit else ""
    if spec.minimum is not None and value < spec.minimum:
        raise CommandRejectedError(
            f"{command.kind} {value:g}{unit} is below the minimum"
            f" {spec.minimum:g}{unit}"
        )
    if spec.maximum is not None and value > spec.maximum:
        raise CommandRejectedError(
            f"{command.kind} {value:g}{unit} is above the maximum"
            f" {spec.maximum:g}{unit}"
        )
    if spec.step:
        base = spec.minimum or 0.0
        steps = round((value - base) / spec.step)
        if not math.isclose(base + steps * spec.step, value, abs_tol=1e-9):
            raise CommandRejectedError(
                f"{command.kind} moves in steps of {spec.step:g}{unit},"
                f" {value:g} is not one"
            )
    return float(value)
