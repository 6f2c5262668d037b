"""``eo bench plan``: figures of the energy planner.

The energy planner on a 48-hour horizon at 15 minutes (192 steps) of the
bundled profile's net load, repeated; the time of one plan. Then the whole
re-plan peak shaving makes every hour (forecasts from eight days of the
profile, the plan, one plan per past day for the robust peak), and the first
re-plan of a day, which also replays yesterday for the forecast's caution.
(``eo bench soc`` is in ``soc.py``.)
"""

from datetime import UTC, datetime, timedelta
import statistics
import time
from typing import Any

from custom_components.energy_orchestrator.lib.control.energy_planner import (
    BatteryLimits,
    plan_peak,
)
from custom_components.energy_orchestrator.lib.control.peak_shaving import (
    PeakShaver,
    PeakShavingSettings,
)
from eo_lab.sim.profiles import bundled_profile

START = datetime(2026, 3, 1, tzinfo=UTC)


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
