"""The battery manager's settings: the battery, its limits, its time windows.

``validate`` is the one check every way of changing settings goes through
(the options form, the threshold numbers, the set-thresholds action), and it
names the field at fault so a form can show the error beside it.
"""

from dataclasses import dataclass
from datetime import time
import math
from typing import Self

from .battery_model import CELL_MODELS, Chemistry


def is_finite(value: float | None) -> bool:
    """Return whether a value is a finite number."""
    return value is not None and math.isfinite(value)


class SettingsError(ValueError):
    """Settings that cannot work together; ``field`` names the culprit."""

    def __init__(self, field: str, code: str, message: str) -> None:
        """Keep the field, a stable code for translations, and a sentence."""
        super().__init__(message)
        self.field = field
        self.code = code


@dataclass(frozen=True)
class BatteryManagerSettings:
    """What the user sets: the battery, its limits, its time windows."""

    chemistry: Chemistry
    cells_in_series: int
    capacity_ah: float
    soc_floor: float
    soc_ceiling: float
    cell_voltage_min: float
    cell_voltage_max: float
    tail_current_a: float
    min_rest_s: float
    charge_window: tuple[time, time] | None = None
    sell_window: tuple[time, time] | None = None
    max_charge_current_a: float | None = None
    max_discharge_current_a: float | None = None

    @classmethod
    def defaults(
        cls, chemistry: Chemistry, cells_in_series: int, capacity_ah: float
    ) -> Self:
        """Return sensible settings for a battery: the chemistry's limits.

        The ceiling of 80 % keeps lithium cells out of the stressful top of
        their range; a user who wants 70 % or 100 % changes it.
        """
        model = CELL_MODELS[chemistry]
        return cls(
            chemistry=chemistry,
            cells_in_series=cells_in_series,
            capacity_ah=capacity_ah,
            soc_floor=20.0,
            soc_ceiling=80.0,
            cell_voltage_min=model.voltage_min,
            cell_voltage_max=model.voltage_max,
            # A charger's usual end of absorption: C/50.
            tail_current_a=round(capacity_ah / 50, 2),
            min_rest_s=15 * 60,
        )

    def validate(self) -> None:
        """Raise SettingsError for settings that cannot work."""
        model = CELL_MODELS[self.chemistry]
        checks: tuple[tuple[bool, str, str, str], ...] = (
            (
                self.cells_in_series >= 1,
                "cells_in_series",
                "out_of_range",
                "A battery has at least one cell.",
            ),
            (
                is_finite(self.capacity_ah) and self.capacity_ah > 0,
                "capacity_ah",
                "out_of_range",
                "The capacity must be positive.",
            ),
            (
                0 <= self.soc_floor <= 100,
                "soc_floor",
                "out_of_range",
                "The floor is a percentage.",
            ),
            (
                0 <= self.soc_ceiling <= 100,
                "soc_ceiling",
                "out_of_range",
                "The ceiling is a percentage.",
            ),
            (
                self.soc_floor + 5 <= self.soc_ceiling,
                "soc_floor",
                "floor_above_ceiling",
                f"The floor ({self.soc_floor:g} %) must be at least 5 points below the ceiling ({self.soc_ceiling:g} %).",
            ),
            (
                model.plausible_min <= self.cell_voltage_min <= model.plausible_max,
                "cell_voltage_min",
                "voltage_implausible",
                f"A cut-off of {self.cell_voltage_min:g} V is not plausible for {self.chemistry.value}.",
            ),
            (
                model.plausible_min <= self.cell_voltage_max <= model.plausible_max,
                "cell_voltage_max",
                "voltage_implausible",
                f"An absorb voltage of {self.cell_voltage_max:g} V is not plausible for {self.chemistry.value}.",
            ),
            (
                self.cell_voltage_min + 0.1 <= self.cell_voltage_max,
                "cell_voltage_min",
                "cutoff_above_absorb",
                "The cut-off voltage must be below the absorb voltage.",
            ),
            (
                self.tail_current_a >= 0,
                "tail_current_a",
                "out_of_range",
                "The tail current cannot be negative.",
            ),
            (
                0 <= self.min_rest_s <= 86400,
                "min_rest_s",
                "out_of_range",
                "The minimum rest is between 0 and 24 hours.",
            ),
            (
                self.max_charge_current_a is None or self.max_charge_current_a > 0,
                "max_charge_current_a",
                "out_of_range",
                "The maximum charge current must be positive.",
            ),
            (
                self.max_discharge_current_a is None
                or self.max_discharge_current_a > 0,
                "max_discharge_current_a",
                "out_of_range",
                "The maximum discharge current must be positive.",
            ),
        )
        for ok, field, code, message in checks:
            if not ok:
                raise SettingsError(field, code, message)

    @property
    def max_plausible_current_a(self) -> float:
        """Return the largest current a reading may claim before it is a spike.

        Three times the configured maximum, or 5C without one: a real battery
        current does not exceed that, a glitched reading often does.
        """
        limits = [
            a for a in (self.max_charge_current_a, self.max_discharge_current_a) if a
        ]
        return 3 * max(limits) if limits else 5 * self.capacity_ah
