"""``eo bench soc`` and ``eo bench plan``: figures of the control layer.

``plan``: the energy planner on a 48-hour horizon at 15 minutes (192 steps)
of the bundled profile's net load, repeated; the time of one plan. Then the
whole re-plan peak shaving makes every hour (forecasts from eight days of
the profile, the plan, one plan per past day for the robust peak), and the
first re-plan of a day, which also replays yesterday for the forecast's
caution.

``soc``: how far the battery manager's SOC is from the truth.

A simulated month of a household battery cycling on measured load and PV
(the bundled EMHASS profile, looped): the sun charges it, the evening and
night discharge it, the manager's own state machine keeps it between a 20 %
floor and an 80 % ceiling, so it almost never sees a full charge to
recalibrate against. The simulated battery does not match what the
estimator assumes: its real capacity is 6 % below the nameplate, its
coulombic efficiency 0.985, its current sensor reads 0.3 A high with 0.5 A
of noise, it self-discharges 3 % a month, its voltage curve is the
simulator's own (not the estimator's table), and its rested voltage carries
the hysteresis and noise a real LFP pack shows.

Printed: the estimator's SOC error (mean and max of |estimate - truth|, in
SOC points) against plain coulomb counting from the same known start with
the nameplate capacity and no corrections. Figures, never assertions.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
import random
import statistics
import time
from typing import Any

from custom_components.energy_orchestrator.lib.control.battery_manager import (
    BatteryManager,
    BatteryManagerSettings,
    BatterySample,
    BatteryState,
    Chemistry,
)
from custom_components.energy_orchestrator.lib.control.energy_planner import (
    BatteryLimits,
    plan_peak,
)
from custom_components.energy_orchestrator.lib.control.peak_shaving import (
    PeakShaver,
    PeakShavingSettings,
)
from eo_lab.sim.battery import SimBattery
from eo_lab.sim.profiles import bundled_profile

CELLS = 16
NAMEPLATE_AH = 200.0
TRUE_CAPACITY_AH = 188.0
STEP_S = 30
START = datetime(2026, 3, 1, tzinfo=UTC)
# Inverter limits: what the battery may take or give.
MAX_CHARGE_W = 5000.0
MAX_DISCHARGE_W = 5000.0
# A rested LFP cell shows this much above its mean curve after charging,
# below it after discharging; and a meter adds noise per cell.
HYSTERESIS_V_PER_CELL = 0.008
VOLTAGE_NOISE_V_PER_CELL = 0.002


@dataclass
class _Errors:
    """Absolute SOC errors of one estimate, in points."""

    values: list[float]

    def figures(self) -> dict[str, float]:
        """Return mean and max."""
        return {
            "mean": statistics.fmean(self.values),
            "max": max(self.values),
        }


def soc_benchmark(days: int = 30) -> dict[str, Any]:
    """Run the month and return the figures."""
    profile = bundled_profile()
    rng = random.Random(7)
    battery = SimBattery(
        chemistry="lfp",
        cells_in_series=CELLS,
        capacity_ah=TRUE_CAPACITY_AH,
        internal_resistance_ohm=0.03,
        coulombic_efficiency=0.985,
        self_discharge_pct_per_month=3.0,
        initial_soc=0.5,
        current_offset_a=0.3,
        current_noise_a=0.5,
        seed=11,
    )
    settings = BatteryManagerSettings.defaults(Chemistry.LFP, CELLS, NAMEPLATE_AH)
    manager = BatteryManager(settings, now=START)
    # Both start from the true SOC, as if calibrated the day before.
    manager.calibrate_soc(START, battery.soc * 100)
    plain_soc = battery.soc
    estimator_errors = _Errors([])
    plain_errors = _Errors([])
    direction = 0
    full_charges = 0
    started = time.process_time()
    steps = days * 86400 // STEP_S
    for step in range(steps):
        now = START + timedelta(seconds=step * STEP_S)
        seconds = step * STEP_S
        surplus = profile.pv_w(seconds) - profile.load_w(seconds)
        state = manager.status.state
        if state is BatteryState.CHARGE:
            power = min(max(surplus, 0.0), MAX_CHARGE_W)
        elif state is BatteryState.SELL:
            power = -min(max(-surplus, 0.0), MAX_DISCHARGE_W)
        else:
            power = 0.0
        flowed = battery.step(battery.current_for_power(power), STEP_S)
        if abs(flowed) > 2:
            direction = 1 if flowed > 0 else -1
        if battery.soc >= 0.999:
            full_charges += 1
        measured = battery.measured_current
        voltage = battery.terminal_voltage + CELLS * (
            HYSTERESIS_V_PER_CELL * direction + rng.gauss(0.0, VOLTAGE_NOISE_V_PER_CELL)
        )
        status = manager.update(
            now, BatterySample(voltage_v=voltage, current_a=measured)
        )
        # A plain counter stops at empty and full, as a BMS's does.
        plain_soc = min(
            max(plain_soc + measured * STEP_S / 3600 / NAMEPLATE_AH, 0.0), 1.0
        )
        truth = battery.soc * 100
        assert status.soc is not None
        estimator_errors.values.append(abs(status.soc - truth))
        plain_errors.values.append(abs(plain_soc * 100 - truth))
    cpu = time.process_time() - started
    return {
        "benchmark": "soc",
        "days": days,
        "steps": steps,
        "estimator": estimator_errors.figures(),
        "plain_coulomb_counting": plain_errors.figures(),
        "estimator_final": {
            "learned_capacity_ah": manager.status.learned_capacity_ah,
            "coulombic_efficiency": manager.status.coulombic_efficiency,
            "current_offset_a": manager.status.current_offset_a,
        },
        "true_full_charges": full_charges,
        "cpu_us_per_step": cpu / steps * 1e6,
    }


def format_soc_figures(figures: dict[str, Any]) -> str:
    """Return the figures as the lines of the table in docs/benchmarks.md."""
    est, plain = figures["estimator"], figures["plain_coulomb_counting"]
    final = figures["estimator_final"]
    return "\n".join(
        [
            f"{figures['days']} simulated days, {figures['steps']} steps"
            f" ({figures['cpu_us_per_step']:.0f} µs CPU per step)",
            f"{'':26} {'mean error':>11} {'max error':>10}",
            f"{'battery manager':26} {est['mean']:10.2f}% {est['max']:9.2f}%",
            f"{'plain coulomb counting':26} {plain['mean']:10.2f}% {plain['max']:9.2f}%",
            f"learned: capacity {final['learned_capacity_ah']:.1f} Ah,"
            f" efficiency {final['coulombic_efficiency']:.3f},"
            f" sensor offset {final['current_offset_a']:+.2f} A;"
            f" steps at true full: {figures['true_full_charges']}",
        ]
    )


def plan_benchmark(plans: int = 50) -> dict[str, Any]:
    """Time the planner on 48 hours at 15 minutes; return the figures."""
    profile = bundled_profile()
    step = timedelta(minutes=15)
    net = [
        profile.load_w(index * 900) - profile.pv_w(index * 900) for index in range(192)
    ]
    limits = BatteryLimits(
        capacity_wh=10000, max_charge_w=3000, max_discharge_w=3000, soc_min=10
    )
    times: list[float] = []
    peak = 0.0
    for _ in range(plans):
        started = time.perf_counter()
        peak = plan_peak(START, step, net, limits, 8000).peak_w
        times.append(time.perf_counter() - started)
    shaver = PeakShaver(PeakShavingSettings(), limits, now=START)
    for index in range(8 * 288):
        moment = START + index * timedelta(minutes=5)
        shaver.observe(moment, profile.load_w(index * 300), profile.pv_w(index * 300))
    now = START + timedelta(days=8)
    hourly: list[float] = []
    daily: list[float] = []
    for _ in range(plans):
        shaver.forecaster.caution.last_day = (
            None  # the day's first plan: replay yesterday
        )
        started = time.perf_counter()
        shaver.replan(now, 8000)
        daily.append(time.perf_counter() - started)
        started = time.perf_counter()
        shaver.replan(now, 8000)
        hourly.append(time.perf_counter() - started)
    return {
        "benchmark": "plan",
        "steps": len(net),
        "plans": plans,
        "ms_mean": statistics.fmean(times) * 1000,
        "ms_max": max(times) * 1000,
        "peak_w": peak,
        "replan_ms_mean": statistics.fmean(hourly) * 1000,
        "replan_ms_max": max(hourly) * 1000,
        "daily_replan_ms_mean": statistics.fmean(daily) * 1000,
        "daily_replan_ms_max": max(daily) * 1000,
    }


def format_plan_figures(figures: dict[str, Any]) -> str:
    """Return the planner's figures as a line."""
    return (
        f"energy planner, {figures['steps']} steps (48 h at 15 min):"
        f" {figures['ms_mean']:.1f} ms mean, {figures['ms_max']:.1f} ms max"
        f" over {figures['plans']} plans\n"
        f"peak-shaving re-plan (forecasts, plan, robust peak):"
        f" {figures['replan_ms_mean']:.1f} ms mean,"
        f" {figures['replan_ms_max']:.1f} ms max\n"
        f"first re-plan of a day (also replays yesterday for the caution):"
        f" {figures['daily_replan_ms_mean']:.1f} ms mean,"
        f" {figures['daily_replan_ms_max']:.1f} ms max"
    )
