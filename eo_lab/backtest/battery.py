"""The backtests' battery: energy with efficiencies, within its limits."""

from dataclasses import dataclass

from custom_components.energy_orchestrator.lib.control.energy_planner import (
    BatteryLimits,
)

# The battery starts full and is used between 10 and 100 %.
SOC_MIN = 10.0
SOC_MAX = 100.0
EFFICIENCY = 0.95


def battery_limits(battery_kwh: float, battery_kw: float) -> BatteryLimits:
    """Return the backtest's battery: used between 10 and 100 %, 95 % each way."""
    limits = BatteryLimits(
        capacity_wh=battery_kwh * 1000,
        max_charge_w=battery_kw * 1000,
        max_discharge_w=battery_kw * 1000,
        soc_min=SOC_MIN,
        soc_max=SOC_MAX,
        charge_efficiency=EFFICIENCY,
        discharge_efficiency=EFFICIENCY,
    )
    limits.validate()
    return limits


@dataclass
class Battery:
    """A battery in simulated time: what it holds, and what a setpoint really does."""

    limits: BatteryLimits
    energy_wh: float

    def run(self, setpoint_w: float, step_h: float) -> float:
        """Run at a setpoint for a step; return the power that really flowed."""
        limits = self.limits
        if setpoint_w >= 0:
            room = max(limits.energy_max_wh - self.energy_wh, 0.0)
            power = min(
                setpoint_w,
                limits.max_charge_w,
                room / limits.charge_efficiency / step_h,
            )
            self.energy_wh += power * step_h * limits.charge_efficiency
        else:
            available = max(self.energy_wh - limits.energy_min_wh, 0.0)
            power = -min(
                -setpoint_w,
                limits.max_discharge_w,
                available * limits.discharge_efficiency / step_h,
            )
            self.energy_wh += power * step_h / limits.discharge_efficiency
        return power

    @property
    def soc(self) -> float:
        """Return the SOC in %."""
        return (
            100 * self.energy_wh / self.limits.capacity_wh
            if self.limits.capacity_wh
            else 0.0
        )
