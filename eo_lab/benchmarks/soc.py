"""``eo bench soc``: how far the battery manager's SOC is from the truth.

Each month is a simulated household battery cycling on measured load and PV
(the bundled EMHASS profile, looped, shifted and scaled per month): the sun
charges it, the evening and night discharge it, and the manager's own state
machine decides when, between its floor and ceiling. The simulated battery
never matches what the estimator assumes: its capacity is below the
nameplate, its current sensor has a gain and an offset error and noise, it
self-discharges, its voltage curve is the simulator's own (not the
estimator's table), and its rested voltage carries the hysteresis and noise
a real LFP pack shows.

``steady`` is the month the benchmark has always run: a known start, a 20 %
floor and an 80 % ceiling. The others are held out (no test runs them): each
starts from a SOC that is wrong (told by the user, or the BMS's, or the
voltage's), never reaches full, samples at jittery times and loses its
samples for some hours once (Home Assistant down, the battery left at rest,
the manager restored from its saved state). ``--validation N`` adds N
months drawn at random from the same ranges.

Printed per month: the error |estimate - truth| in SOC points, mean and max
per day and over the month from the third day on; what was learned against
the truth; how often the truth lay within one and two published sigmas; the
lowest true SOC while the manager was selling, against its floor; the day
the battery first rested an hour on a steep part of its curve, and the
largest error from the next day on. Figures, never assertions.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
import json
import math
import random
import statistics
from time import process_time
from typing import Any

from custom_components.energy_orchestrator.lib.control.battery_manager import (
    BatteryManager,
    BatteryManagerSettings,
    BatterySample,
    BatteryState,
    Chemistry,
)
from eo_lab.sim.battery import SimBattery
from eo_lab.sim.profiles import bundled_profile

CELLS = 16
START = datetime(2026, 3, 1, tzinfo=UTC)
# Inverter limits: what the battery may take or give.
MAX_CHARGE_W = 5000.0
MAX_DISCHARGE_W = 5000.0
# A rested LFP cell shows this much above its mean curve after charging,
# below it after discharging, and crosses between the two over about this
# share of its capacity; a meter adds noise per cell.
HYSTERESIS_V_PER_CELL = 0.008
HYSTERESIS_SWING = 0.015
VOLTAGE_NOISE_V_PER_CELL = 0.002
# Errors are judged from this day on (the first two are the start's).
JUDGED_FROM_DAY = 3
# A rest (a current below this share of the capacity) of this long at a
# true SOC up to the low end, or from the high end, is a rest on a steep part
# of the LFP curve: the first witness that can correct a wrong start.
REST_SHARE = 0.01
STEEP_REST_S = 3600.0
LOW_STEEP_END = 0.25
HIGH_STEEP_END = 0.88
# The simulated pack's resistance at 200 Ah; smaller packs have more.
RESISTANCE_OHM_200AH = 0.03
# Charging while the sun shines, selling in the evening and at night.
DAY = (time(8), time(16))
NIGHT = (time(16), time(8))


@dataclass(frozen=True)
class SocMonth:
    """One simulated month: the battery, its sensors, its start, its site."""

    name: str
    nameplate_ah: float
    true_capacity_ah: float
    # The current sensor: reads gain x current + offset, with noise.
    current_gain: float
    current_offset_a: float
    current_noise_a: float
    true_start_soc: float  # 0..1
    # How the manager starts: from a SOC the user gives (%, possibly wrong),
    # else from the BMS's SOC (%), else from the voltage.
    told_start_soc: float | None
    bms_start_soc: float | None
    soc_floor: float
    soc_ceiling: float
    # Whole days, so the sun keeps its clock time.
    profile_shift_days: int
    pv_scale: float
    load_scale: float
    seed: int
    battery_seed: int
    # Samples arrive every step_s on average; jitter spreads them.
    step_s: float = 10.0
    jitter: bool = True
    # Home Assistant down (no samples, battery at rest) from this day, so long.
    gap_day: float | None = None
    gap_hours: float = 2.0
    # The manager's windows (UTC clock times); None is any time.
    charge_window: tuple[time, time] | None = None
    sell_window: tuple[time, time] | None = None


MONTHS: tuple[SocMonth, ...] = (
    SocMonth(
        name="steady",
        nameplate_ah=200.0,
        true_capacity_ah=188.0,
        current_gain=1.0,
        current_offset_a=0.3,
        current_noise_a=0.5,
        true_start_soc=0.5,
        told_start_soc=50.0,
        bms_start_soc=None,
        soc_floor=20.0,
        soc_ceiling=80.0,
        profile_shift_days=0,
        pv_scale=1.0,
        load_scale=1.0,
        seed=7,
        battery_seed=11,
        step_s=30.0,
        jitter=False,
    ),
    SocMonth(
        name="told wrong",
        nameplate_ah=280.0,
        true_capacity_ah=270.0,
        current_gain=1.01,
        current_offset_a=0.3,
        current_noise_a=0.5,
        true_start_soc=0.55,
        told_start_soc=65.0,
        bms_start_soc=None,
        soc_floor=10.0,
        soc_ceiling=90.0,
        profile_shift_days=3,
        pv_scale=1.6,
        load_scale=0.8,
        seed=101,
        battery_seed=102,
        gap_day=11.3,
        charge_window=DAY,
        sell_window=NIGHT,
    ),
    SocMonth(
        name="from voltage",
        nameplate_ah=200.0,
        true_capacity_ah=184.0,
        current_gain=0.985,
        current_offset_a=-0.25,
        current_noise_a=0.4,
        true_start_soc=0.62,
        told_start_soc=None,
        bms_start_soc=None,
        soc_floor=15.0,
        soc_ceiling=95.0,
        profile_shift_days=6,
        pv_scale=1.3,
        load_scale=0.7,
        seed=202,
        battery_seed=203,
        gap_day=17.6,
        charge_window=DAY,
        sell_window=NIGHT,
    ),
    SocMonth(
        name="BMS wrong",
        nameplate_ah=100.0,
        true_capacity_ah=95.0,
        current_gain=1.02,
        current_offset_a=0.15,
        current_noise_a=0.3,
        true_start_soc=0.40,
        told_start_soc=None,
        bms_start_soc=48.0,
        soc_floor=20.0,
        soc_ceiling=85.0,
        profile_shift_days=8,
        pv_scale=1.0,
        load_scale=0.3,
        seed=303,
        battery_seed=304,
        gap_day=4.9,
        charge_window=DAY,
        sell_window=NIGHT,
    ),
    SocMonth(
        name="ceiling 100",
        nameplate_ah=150.0,
        true_capacity_ah=141.0,
        current_gain=1.015,
        current_offset_a=-0.1,
        current_noise_a=0.3,
        true_start_soc=0.30,
        told_start_soc=None,
        bms_start_soc=None,
        soc_floor=10.0,
        soc_ceiling=100.0,
        profile_shift_days=1,
        pv_scale=1.0,
        load_scale=0.5,
        seed=404,
        battery_seed=405,
        gap_day=22.4,
        gap_hours=3.0,
        charge_window=DAY,
        sell_window=NIGHT,
    ),
)


def random_month(seed: int) -> SocMonth:
    """Return a month drawn from the ranges the held-out months come from."""
    rng = random.Random(seed)
    nameplate = rng.choice((100.0, 150.0, 200.0, 280.0))
    size = nameplate / 200
    true_start = rng.uniform(0.3, 0.8)
    start = rng.choice(("told", "bms", "voltage"))
    error = rng.choice((-1, 1)) * rng.uniform(4.0, 12.0)
    windows = rng.random() < 0.7
    return SocMonth(
        name=f"random {seed}",
        nameplate_ah=nameplate,
        true_capacity_ah=round(nameplate * (1 - rng.uniform(0.03, 0.08)), 1),
        current_gain=round(rng.uniform(0.98, 1.02), 3),
        current_offset_a=round(rng.uniform(-0.4, 0.4), 2),
        current_noise_a=round(rng.uniform(0.2, 0.6), 2),
        true_start_soc=true_start,
        told_start_soc=min(max(100 * true_start + error, 5.0), 95.0)
        if start == "told"
        else None,
        bms_start_soc=min(max(100 * true_start + error, 5.0), 95.0)
        if start == "bms"
        else None,
        soc_floor=rng.choice((10.0, 15.0, 20.0)),
        soc_ceiling=rng.choice((80.0, 85.0, 90.0, 95.0, 100.0)),
        profile_shift_days=rng.randrange(10),
        pv_scale=round(rng.uniform(0.6, 1.6) * size, 2),
        load_scale=round(rng.uniform(0.4, 1.0) * size, 2),
        seed=seed,
        battery_seed=seed + 1,
        gap_day=round(rng.uniform(3, 27), 2),
        gap_hours=round(rng.uniform(0.5, 4), 1),
        charge_window=DAY if windows else None,
        sell_window=NIGHT if windows else None,
    )


@dataclass
class _Day:
    """The absolute errors of one day, in points."""

    total: float = 0.0
    samples: int = 0
    worst: float = 0.0

    def add(self, error: float) -> None:
        """Count one sample's error."""
        self.total += error
        self.samples += 1
        self.worst = max(self.worst, error)


@dataclass
class _Run:
    """What one month measured."""

    capacity_ah: float
    days: list[_Day] = field(default_factory=list)
    plain_days: list[_Day] = field(default_factory=list)
    within_one_sigma: int = 0
    within_two_sigmas: int = 0
    judged: int = 0
    full_steps: int = 0
    min_true_soc_selling: float = 100.0
    min_true_soc_selling_from_day_3: float = 100.0
    # When the battery first rested an hour on a steep part of its curve
    # (true SOC), and the largest error from the next day on.
    rest_started: float | None = None
    first_steep_rest_day: float | None = None
    max_error_after_steep_rest: float = 0.0

    def watch(self, seconds: float, flowed: float, soc: float, error: float) -> None:
        """Note the first long rest on a steep part, and the errors after it."""
        if self.first_steep_rest_day is not None:
            if seconds / 86400 >= int(self.first_steep_rest_day) + 1:
                self.max_error_after_steep_rest = max(
                    self.max_error_after_steep_rest, error
                )
            return
        if abs(flowed) > REST_SHARE * self.capacity_ah:
            self.rest_started = None
            return
        if self.rest_started is None:
            self.rest_started = seconds
        steep = soc <= LOW_STEEP_END or soc >= HIGH_STEEP_END
        if steep and seconds - self.rest_started >= STEEP_REST_S:
            self.first_steep_rest_day = seconds / 86400

    def add(self, day: int, error: float, plain_error: float, sigma: float) -> None:
        """Count one sample's errors on its day."""
        while len(self.days) <= day:
            self.days.append(_Day())
            self.plain_days.append(_Day())
        self.days[day].add(error)
        self.plain_days[day].add(plain_error)
        if day >= JUDGED_FROM_DAY - 1:
            self.judged += 1
            self.within_one_sigma += error <= sigma
            self.within_two_sigmas += error <= 2 * sigma

    def selling(self, day: int, truth: float) -> None:
        """Note the true SOC of a sample taken while the manager sold."""
        self.min_true_soc_selling = min(self.min_true_soc_selling, truth)
        if day >= JUDGED_FROM_DAY - 1:
            self.min_true_soc_selling_from_day_3 = min(
                self.min_true_soc_selling_from_day_3, truth
            )


def _figures(days: list[_Day], first: int) -> dict[str, float]:
    """Return mean and max over the days from ``first`` (0-based) on."""
    chosen = [day for day in days[first:] if day.samples]
    if not chosen:
        return {"mean": math.nan, "max": math.nan}
    return {
        "mean": sum(day.total for day in chosen) / sum(day.samples for day in chosen),
        "max": max(day.worst for day in chosen),
    }


def _next_step(rng: random.Random, month: SocMonth) -> float:
    """Return the seconds to the next sample: jittery, now and then late or doubled."""
    if not month.jitter:
        return month.step_s
    draw = rng.random()
    if draw < 0.005:
        return 0.05  # the same reading twice, a few milliseconds apart
    if draw < 0.015:
        return 6 * month.step_s  # a slow step
    return rng.uniform(0.3, 1.7) * month.step_s


def _battery(month: SocMonth) -> SimBattery:
    """Return the month's simulated battery."""
    return SimBattery(
        chemistry="lfp",
        cells_in_series=CELLS,
        capacity_ah=month.true_capacity_ah,
        internal_resistance_ohm=RESISTANCE_OHM_200AH * 200 / month.nameplate_ah,
        coulombic_efficiency=0.985,
        self_discharge_pct_per_month=3.0,
        initial_soc=month.true_start_soc,
        current_offset_a=month.current_offset_a,
        current_noise_a=month.current_noise_a,
        current_gain=month.current_gain,
        seed=month.battery_seed,
    )


def _settings(month: SocMonth) -> BatteryManagerSettings:
    """Return the manager's settings for the month."""
    return replace(
        BatteryManagerSettings.defaults(Chemistry.LFP, CELLS, month.nameplate_ah),
        soc_floor=month.soc_floor,
        soc_ceiling=month.soc_ceiling,
        charge_window=month.charge_window,
        sell_window=month.sell_window,
    )


def _power(state: BatteryState, surplus_w: float) -> float:
    """Return the battery's power in a state: the sun's surplus, or the load."""
    if state is BatteryState.CHARGE:
        return min(max(surplus_w, 0.0), MAX_CHARGE_W)
    if state is BatteryState.SELL:
        return -min(max(-surplus_w, 0.0), MAX_DISCHARGE_W)
    return 0.0


def run_month(month: SocMonth, days: int = 30) -> dict[str, Any]:
    """Run one month; return its figures."""
    profile = bundled_profile()
    rng = random.Random(month.seed)
    battery = _battery(month)
    settings = _settings(month)
    manager = BatteryManager(settings, now=START)
    if month.told_start_soc is not None:
        manager.calibrate_soc(START, month.told_start_soc)
    manager.update(
        START,
        BatterySample(
            voltage_v=battery.ocv, current_a=0.0, bms_soc=month.bms_start_soc
        ),
    )
    assert manager.status.soc is not None
    plain_soc = manager.status.soc / 100
    run = _Run(month.nameplate_ah)
    branch = 0.0  # -1 on the discharge branch of the hysteresis, 1 on the charge one
    shift = month.profile_shift_days * 86400
    gap = (
        (month.gap_day * 86400, (month.gap_day + month.gap_hours / 24) * 86400)
        if month.gap_day is not None
        else (math.inf, math.inf)
    )
    saved: dict[str, Any] | None = None
    seconds = 0.0
    steps = 0
    started = process_time()
    while (seconds := seconds + (step := _next_step(rng, month))) < days * 86400:
        now = START + timedelta(seconds=seconds)
        down = gap[0] <= seconds < gap[1]
        if down and saved is None:
            # Home Assistant stops: the outputs rest, the state is saved.
            saved = json.loads(json.dumps(manager.snapshot()))
        surplus = month.pv_scale * profile.pv_w(
            seconds + shift
        ) - month.load_scale * profile.load_w(seconds + shift)
        power = 0.0 if down else _power(manager.status.state, surplus)
        flowed = battery.step(battery.current_for_power(power), step)
        if flowed:
            # Towards the branch of the way the charge flows, over a few
            # percent of the capacity (a one-state hysteresis model).
            moved = abs(flowed) * step / 3600 / month.true_capacity_ah
            branch += (1 - math.exp(-moved / HYSTERESIS_SWING)) * (
                math.copysign(1.0, flowed) - branch
            )
        run.full_steps += battery.soc >= 0.999
        if down:
            continue
        if saved is not None:
            manager = BatteryManager(settings, now=now, saved=saved)
            saved = None
        measured = battery.measured_current
        voltage = battery.terminal_voltage + CELLS * (
            HYSTERESIS_V_PER_CELL * branch + rng.gauss(0.0, VOLTAGE_NOISE_V_PER_CELL)
        )
        status = manager.update(
            now, BatterySample(voltage_v=voltage, current_a=measured)
        )
        steps += 1
        # A plain counter stops at empty and full, as a BMS's does.
        plain_soc = min(
            max(plain_soc + measured * step / 3600 / month.nameplate_ah, 0.0), 1.0
        )
        truth = battery.soc * 100
        assert status.soc is not None
        assert status.soc_uncertainty is not None
        day = int(seconds // 86400)
        run.add(
            day,
            abs(status.soc - truth),
            abs(plain_soc * 100 - truth),
            status.soc_uncertainty,
        )
        if status.state is BatteryState.SELL:
            run.selling(day, truth)
        run.watch(seconds, flowed, battery.soc, abs(status.soc - truth))
    cpu = process_time() - started
    final = manager.status
    return {
        "month": month.name,
        "days": days,
        "steps": steps,
        "nameplate_ah": month.nameplate_ah,
        "true_capacity_ah": month.true_capacity_ah,
        "current_gain": month.current_gain,
        "current_offset_a": month.current_offset_a,
        "start": "told"
        if month.told_start_soc is not None
        else "bms"
        if month.bms_start_soc is not None
        else "voltage",
        "start_error": manager_start_error(month),
        "estimator": _figures(run.days, 0),
        "estimator_from_day_3": _figures(run.days, JUDGED_FROM_DAY - 1),
        "plain_coulomb_counting": _figures(run.plain_days, 0),
        "per_day": [
            {"mean": day.total / day.samples, "max": day.worst}
            for day in run.days
            if day.samples
        ],
        "estimator_final": {
            "learned_capacity_ah": final.learned_capacity_ah,
            "learned_capacity_uncertainty_ah": final.learned_capacity_uncertainty_ah,
            "coulombic_efficiency": final.coulombic_efficiency,
            "current_offset_a": final.current_offset_a,
            "soc_uncertainty": final.soc_uncertainty,
        },
        # What the SOC needs is the capacity in the sensor's amp-hours.
        "sensor_capacity_ah": month.true_capacity_ah * month.current_gain,
        "within_one_sigma": run.within_one_sigma / run.judged
        if run.judged
        else math.nan,
        "within_two_sigmas": run.within_two_sigmas / run.judged
        if run.judged
        else math.nan,
        "soc_floor": month.soc_floor,
        "min_true_soc_selling": run.min_true_soc_selling,
        "min_true_soc_selling_from_day_3": run.min_true_soc_selling_from_day_3,
        "true_full_steps": run.full_steps,
        "first_steep_rest_day": run.first_steep_rest_day,
        "max_error_after_first_steep_rest": run.max_error_after_steep_rest
        if run.first_steep_rest_day is not None
        else math.nan,
        "cpu_us_per_step": cpu / max(steps, 1) * 1e6,
    }


def manager_start_error(month: SocMonth) -> float | None:
    """Return how far the start the manager is given is from the truth (points)."""
    given = (
        month.told_start_soc
        if month.told_start_soc is not None
        else month.bms_start_soc
    )
    return None if given is None else given - 100 * month.true_start_soc


def _summary(results: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Return the mean of the months' means and the largest max, from day 3."""
    judged = [
        result["estimator_from_day_3"]
        for result in results
        if not math.isnan(result["estimator_from_day_3"]["mean"])
    ]
    return {
        "mean": statistics.fmean(item["mean"] for item in judged)
        if judged
        else math.nan,
        "max": max((item["max"] for item in judged), default=math.nan),
        "months": len(judged),
    }


def soc_benchmark(
    days: int = 30, months: Sequence[str] = (), validation: int = 0
) -> dict[str, Any]:
    """Run the months (all, or those named) and ``validation`` random ones."""
    chosen = [month for month in MONTHS if not months or month.name in months]
    results = [run_month(month, days) for month in chosen]
    drawn = [run_month(random_month(1000 + index), days) for index in range(validation)]
    return {
        "benchmark": "soc",
        "days": days,
        "months": results,
        "held_out_from_day_3": _summary(
            [result for result in results if result["month"] != "steady"]
        ),
        "validation": drawn,
        "validation_from_day_3": _summary(drawn),
    }


def _month_line(result: dict[str, Any]) -> str:
    """Return one month's figures as a line."""
    est, late = result["estimator"], result["estimator_from_day_3"]
    final = result["estimator_final"]
    return (
        f"{result['month']:14} {est['mean']:6.2f} {est['max']:6.2f}"
        f" {late['mean']:9.2f} {late['max']:8.2f}"
        f" {result['plain_coulomb_counting']['mean']:6.1f}"
        f" {final['learned_capacity_ah']:7.1f} ({result['sensor_capacity_ah']:5.1f})"
        f" {final['current_offset_a']:+6.2f} ({result['current_offset_a']:+5.2f})"
        f" {100 * result['within_one_sigma']:4.0f}% {100 * result['within_two_sigmas']:4.0f}%"
        f" {result['min_true_soc_selling']:5.1f}"
        f" {result['min_true_soc_selling_from_day_3']:5.1f}/{result['soc_floor']:.0f}"
        f" {_day(result['first_steep_rest_day']):>5}"
        f" {result['max_error_after_first_steep_rest']:6.2f}"
    )


def _day(fraction: float | None) -> str:
    """Return a time in days as the day it falls on (1-based), or a dash."""
    return "-" if fraction is None else f"{int(fraction) + 1}"


def format_soc_figures(figures: dict[str, Any]) -> str:
    """Return the figures as the lines of the tables in docs/benchmarks.md."""
    months = figures["months"]
    header = (
        f"{'month':14} {'mean':>6} {'max':>6} {'mean d3+':>9} {'max d3+':>8}"
        f" {'plain':>6} {'capacity (true)':>15} {'offset (true)':>14}"
        f" {'1σ':>5} {'2σ':>5} {'min sold, d3+/floor':>19}"
        f" {'steep':>5} {'max next':>8}"
    )
    lines = [header, *(_month_line(result) for result in months)]
    held = figures["held_out_from_day_3"]
    lines.append(
        f"held-out months from day {JUDGED_FROM_DAY}:"
        f" mean {held['mean']:.2f}, max {held['max']:.2f} points"
    )
    if figures["validation"]:
        lines += [
            "",
            header,
            *(_month_line(result) for result in figures["validation"]),
        ]
        drawn = figures["validation_from_day_3"]
        lines.append(
            f"{drawn['months']} random months from day {JUDGED_FROM_DAY}:"
            f" mean {drawn['mean']:.2f}, max {drawn['max']:.2f} points"
        )
    if months:
        lines += ["", "day " + " ".join(f"{r['month'][:13]:>13}" for r in months)]
        for index in range(max(len(result["per_day"]) for result in months)):
            cells = [
                f"{r['per_day'][index]['mean']:5.1f} / {r['per_day'][index]['max']:5.1f}"
                if index < len(r["per_day"])
                else " " * 13
                for r in months
            ]
            lines.append(f"{index + 1:3} " + " ".join(cells))
    every = [*months, *figures["validation"]]
    cpu = statistics.fmean(result["cpu_us_per_step"] for result in every)
    lines.append(
        f"(mean / max error per day, SOC points; {cpu:.0f} µs CPU per step;"
        " capacity in the sensor's Ah: true x gain)"
    )
    return "\n".join(lines)
