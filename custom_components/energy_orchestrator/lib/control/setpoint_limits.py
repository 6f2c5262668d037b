"""Bounds on the battery's setpoint besides the billed budget: phases and voltage.

The limiter works on the billed quantity, the grid's total averaged over an
interval. Two limits are not averaged and not totals:

- **A phase's limit**, the main fuse (or a grid operator's limit per
  phase): a household whose heat pump and cooker sit on L1 can blow L1's
  fuse while the total is well under any import limit. Where the grid
  meter measures each phase, the battery is set so that no phase carries
  more than the limit either way, at every step. How much a setpoint moves
  a phase depends on the inverter: a three-phase inverter spreads its power
  evenly (a third on each phase), a single-phase one puts it all on its own
  phase and cannot help the others.
- **The battery's voltage limits**: a BMS whose SOC is wrong still has a
  voltage that tells empty and full. At the lowest voltage the battery
  stops discharging, at the highest it stops charging, and it stays
  stopped until the voltage is back by a band: a voltage that recovers the
  moment the load comes off would otherwise switch the battery on and off
  every few seconds.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
import math

# A voltage limit is released when the voltage is back by this share of it
# (about 1 V on a 48 V pack: 0.06 V per cell of a 16-cell LFP pack, close
# to the battery manager's band of 0.05 V per cell).
VOLTAGE_BAND_SHARE = 0.02


class BatteryPhases(StrEnum):
    """Which phases the battery's inverter feeds."""

    THREE = "three"  # a three-phase inverter: a third of its power on each
    L1 = "l1"
    L2 = "l2"
    L3 = "l3"

    def shares(self) -> tuple[float, float, float]:
        """Return the share of the battery's power on L1, L2, L3."""
        if self is BatteryPhases.THREE:
            return (1 / 3, 1 / 3, 1 / 3)
        return (
            float(self is BatteryPhases.L1),
            float(self is BatteryPhases.L2),
            float(self is BatteryPhases.L3),
        )


@dataclass(frozen=True)
class PhaseRange:
    """The setpoints that keep every phase within its limit, and whether any can."""

    lowest_w: float
    highest_w: float
    # False when no setpoint holds every phase: a phase the inverter does
    # not feed is over, or the phases want opposite things.
    holdable: bool

    def clamp(self, setpoint_w: float) -> float:
        """Return the setpoint moved into the range."""
        return min(max(setpoint_w, self.lowest_w), self.highest_w)


def phase_range(
    grid_phases_w: Sequence[float],
    battery_power_w: float,
    phases: BatteryPhases,
    limit_w: float,
    margin_w: float = 0.0,
) -> PhaseRange:
    """Return the battery setpoints (> 0 charging) that keep each phase within ±limit.

    ``grid_phases_w`` is each phase's grid power now (> 0 importing), with
    the battery at ``battery_power_w``; the range aims ``margin_w`` inside
    the limit. When no setpoint holds every phase the fed phases get the
    setpoint that leaves them equally far over.
    """
    lowest, highest = -math.inf, math.inf
    holdable = True
    for grid_w, share in zip(grid_phases_w, phases.shares(), strict=True):
        # The phase without the battery: what the setpoint moves from.
        without_battery = grid_w - share * battery_power_w
        if share == 0:
            holdable = holdable and abs(without_battery) <= limit_w
            continue
        lowest = max(lowest, (-limit_w + margin_w - without_battery) / share)
        highest = min(highest, (limit_w - margin_w - without_battery) / share)
    if lowest > highest:
        middle = (lowest + highest) / 2
        return PhaseRange(middle, middle, holdable=False)
    return PhaseRange(lowest, highest, holdable)


@dataclass
class VoltageGuard:
    """Stops discharging at the lowest voltage and charging at the highest."""

    lowest_v: float
    highest_v: float
    discharge_stopped: bool = False
    charge_stopped: bool = False

    def validate(self) -> None:
        """Raise ValueError for limits that cannot be a battery's."""
        if not (
            math.isfinite(self.lowest_v)
            and math.isfinite(self.highest_v)
            and 0 < self.lowest_v < self.highest_v
        ):
            raise ValueError(
                "the battery's voltage limits must satisfy 0 < lowest < highest"
            )

    def update(self, voltage_v: float) -> None:
        """Take a reading: stop at a limit, release once back by the band."""
        band_low = self.lowest_v * VOLTAGE_BAND_SHARE
        band_high = self.highest_v * VOLTAGE_BAND_SHARE
        self.discharge_stopped = voltage_v <= self.lowest_v or (
            self.discharge_stopped and voltage_v < self.lowest_v + band_low
        )
        self.charge_stopped = voltage_v >= self.highest_v or (
            self.charge_stopped and voltage_v > self.highest_v - band_high
        )

    def clamp(self, setpoint_w: float) -> float:
        """Return the setpoint without the direction a limit stopped."""
        if self.discharge_stopped:
            setpoint_w = max(setpoint_w, 0.0)
        if self.charge_stopped:
            setpoint_w = min(setpoint_w, 0.0)
        return setpoint_w
