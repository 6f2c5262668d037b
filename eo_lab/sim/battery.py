"""A physical model of a battery pack, as a BMS and an inverter see it.

The model keeps the true charge, so tests can compare what the control layer
estimates (coulomb counting from a noisy current sensor, voltage-based
recalibration) with the truth. Signs follow the value model: current > 0
charges the battery.
"""

from bisect import bisect_right
import math
import random
from typing import Literal

type Chemistry = Literal["lfp", "nmc"]

# Open-circuit voltage of one cell against state of charge (0..1), at rest
# and room temperature. LFP is flat between 20 and 90 % (why voltage says
# little about its SOC there) and steep at both ends; NMC slopes all along.
# Values are typical of datasheet curves, not of one particular cell.
OCV_TABLES: dict[Chemistry, tuple[tuple[float, float], ...]] = {
    "lfp": (
        (0.00, 2.50),
        (0.02, 2.90),
        (0.05, 3.05),
        (0.10, 3.15),
        (0.20, 3.22),
        (0.30, 3.25),
        (0.40, 3.27),
        (0.50, 3.285),
        (0.60, 3.29),
        (0.70, 3.30),
        (0.80, 3.32),
        (0.90, 3.34),
        (0.95, 3.37),
        (0.98, 3.42),
        (1.00, 3.60),
    ),
    "nmc": (
        (0.00, 3.00),
        (0.05, 3.30),
        (0.10, 3.45),
        (0.20, 3.55),
        (0.30, 3.62),
        (0.40, 3.68),
        (0.50, 3.74),
        (0.60, 3.81),
        (0.70, 3.90),
        (0.80, 3.98),
        (0.90, 4.07),
        (1.00, 4.20),
    ),
}

_SECONDS_PER_HOUR = 3600.0
# Self-discharge is specified per month; a month of 30 days.
_SECONDS_PER_MONTH = 30 * 24 * 3600.0


# The SOC column of each table, for bisection on every simulation step.
_OCV_SOCS: dict[Chemistry, tuple[float, ...]] = {
    chemistry: tuple(point[0] for point in table)
    for chemistry, table in OCV_TABLES.items()
}


def cell_ocv(chemistry: Chemistry, soc: float) -> float:
    """Return the open-circuit voltage of one cell at a SOC (0..1)."""
    table = OCV_TABLES[chemistry]
    index = bisect_right(_OCV_SOCS[chemistry], soc) - 1
    if index >= len(table) - 1:
        return table[-1][1]
    if index < 0:
        return table[0][1]
    soc0, volts0 = table[index]
    soc1, volts1 = table[index + 1]
    return volts0 + (volts1 - volts0) * (soc - soc0) / (soc1 - soc0)


class SimBattery:
    """A battery pack: cells in series, an OCV curve, resistance and losses.

    Charge is counted in ampere-hours. Charging stores only
    ``coulombic_efficiency`` of the charge that flows in (the rest goes into
    side reactions), discharging removes all of it; self-discharge slowly
    drains the stored charge. The pack refuses current past empty and full:
    ``step`` returns the current that really flowed.

    The current sensor a BMS would report scales the current by its gain
    (1.01: it reads 1 % high) and adds an offset and gaussian noise,
    drawn from a ``random.Random`` seeded at construction, so a run is
    repeatable.
    """

    def __init__(
        self,
        *,
        chemistry: Chemistry = "lfp",
        cells_in_series: int = 16,
        capacity_ah: float = 100.0,
        internal_resistance_ohm: float = 0.02,
        coulombic_efficiency: float = 0.99,
        self_discharge_pct_per_month: float = 2.0,
        initial_soc: float = 0.5,
        current_offset_a: float = 0.05,
        current_noise_a: float = 0.1,
        current_gain: float = 1.0,
        seed: int = 0,
    ) -> None:
        """Build a pack; ``initial_soc`` is the true state of charge (0..1)."""
        if chemistry not in OCV_TABLES:
            raise ValueError(f"unknown chemistry {chemistry!r}; use lfp or nmc")
        if cells_in_series < 1 or capacity_ah <= 0:
            raise ValueError("a battery needs cells and a positive capacity")
        if not 0 < coulombic_efficiency <= 1:
            raise ValueError("coulombic efficiency must be in (0, 1]")
        if not 0 <= initial_soc <= 1:
            raise ValueError("initial SOC must be in 0..1")
        self.chemistry: Chemistry = chemistry
        self.cells_in_series = cells_in_series
        self.capacity_ah = capacity_ah
        self.internal_resistance_ohm = internal_resistance_ohm
        self.coulombic_efficiency = coulombic_efficiency
        self.self_discharge_pct_per_month = self_discharge_pct_per_month
        self.current_offset_a = current_offset_a
        self.current_noise_a = current_noise_a
        self.current_gain = current_gain
        self._random = random.Random(seed)
        self._charge_ah = capacity_ah * initial_soc
        self._current_a = 0.0
        self._measured_current_a = current_offset_a
        self.charged_ah = 0.0
        self.discharged_ah = 0.0

    @property
    def soc(self) -> float:
        """Return the true state of charge, 0..1."""
        return self._charge_ah / self.capacity_ah

    @property
    def charge_ah(self) -> float:
        """Return the charge stored, in Ah."""
        return self._charge_ah

    @property
    def cell_ocv(self) -> float:
        """Return the open-circuit voltage of one cell."""
        return cell_ocv(self.chemistry, self.soc)

    @property
    def ocv(self) -> float:
        """Return the open-circuit voltage of the pack."""
        return self.cell_ocv * self.cells_in_series

    @property
    def current(self) -> float:
        """Return the true current of the last step (A, > 0 charging)."""
        return self._current_a

    @property
    def terminal_voltage(self) -> float:
        """Return the voltage at the terminals under the last current."""
        return self.ocv + self._current_a * self.internal_resistance_ohm

    @property
    def power(self) -> float:
        """Return the power at the terminals (W, > 0 charging)."""
        return self._current_a * self.terminal_voltage

    @property
    def measured_current(self) -> float:
        """Return the current the pack's sensor reports for the last step."""
        return self._measured_current_a

    def current_for_power(self, power_w: float) -> float:
        """Return the current that carries ``power_w`` at the terminals now.

        Solves P = I·(OCV + I·R). Discharging can deliver at most OCV²/4R
        (the maximum power point); asking for more gets that current.
        """
        ocv = self.ocv
        resistance = self.internal_resistance_ohm
        if resistance <= 0:
            return power_w / ocv
        discriminant = ocv * ocv + 4 * resistance * power_w
        if discriminant < 0:
            return -ocv / (2 * resistance)
        return (-ocv + math.sqrt(discriminant)) / (2 * resistance)

    def step(self, current_a: float, dt_s: float) -> float:
        """Let ``current_a`` flow for ``dt_s`` seconds; return what flowed.

        The returned current is the average over the step: where the pack
        fills up or runs empty during the step, it is less than asked for.
        """
        if dt_s <= 0:
            return self._current_a
        hours = dt_s / _SECONDS_PER_HOUR
        current = current_a
        if current > 0:
            room_ah = self.capacity_ah - self._charge_ah
            stored_ah = current * hours * self.coulombic_efficiency
            if stored_ah >= room_ah:
                current = max(room_ah, 0.0) / (hours * self.coulombic_efficiency)
                self._charge_ah = self.capacity_ah
            else:
                self._charge_ah += stored_ah
            self.charged_ah += current * hours
        elif current < 0:
            taken_ah = -current * hours
            if taken_ah >= self._charge_ah:
                current = -max(self._charge_ah, 0.0) / hours
                self._charge_ah = 0.0
            else:
                self._charge_ah -= taken_ah
            self.discharged_ah -= current * hours
        leak = self.self_discharge_pct_per_month / 100 * dt_s / _SECONDS_PER_MONTH
        self._charge_ah = max(self._charge_ah * (1 - leak), 0.0)
        self._current_a = current
        self._measured_current_a = (
            current * self.current_gain
            + self.current_offset_a
            + self._random.gauss(0.0, self.current_noise_a)
        )
        return current
