"""``optimal`` by the dynamic program: no cheaper schedule exists, and the program allows it."""

from datetime import UTC, datetime, timedelta
from itertools import product
import json

import pytest

from eo_lab.backtest.profile import read_profile
from eo_lab.backtest.site import run_site_backtest
from eo_lab.backtest.site_config import read_site
from eo_lab.backtest.site_exact import Period, SwitchedLoad, solve_exact
from eo_lab.backtest.site_optimal import exact_inputs, optimal_program
from eo_lab.backtest.site_replay import scored_days

# Two loads on nine 5-minute steps netted by three: one whose need takes
# whole steps, with minimum times of two steps, and one whose need ends in a
# partial step. On the second set of periods a minimum on time one step
# shorter would pay.
HEATER = SwitchedLoad("heater", 250.0, 2, 2, ((0, 9, 750.0),))
PUMP = SwitchedLoad("pump", 100.0, 3, 1, ((2, 8, 250.0),))
SHORT_PUMP = SwitchedLoad("pump", 100.0, 2, 1, ((2, 8, 250.0),))
BASES = [(120.0, -430.0, -260.0), (-180.0, 120.0, 120.0)]


def _periods(bases: tuple[float, float, float]) -> list[Period]:
    """Return three netting periods of three steps, the last at other prices."""
    return [
        Period([0, 1, 2], bases[0], 0.30, 0.08),
        Period([3, 4, 5], bases[1], 0.30, 0.08),
        Period([6, 7, 8], bases[2], 0.25, 0.10),
    ]


def _keeps_minimum_times(load: SwitchedLoad, bits: tuple[int, ...]) -> bool:
    """Return whether every run and every pause the horizon does not cut is long enough."""
    runs: list[tuple[int, int]] = []
    for bit in bits:
        if runs and runs[-1][0] == bit:
            runs[-1] = (bit, runs[-1][1] + 1)
        else:
            runs.append((bit, 1))
    for number, (bit, length) in enumerate(runs[:-1]):
        # The first pause follows "off long ago": it may be short.
        if bit and length < load.on_steps:
            return False
        if not bit and number > 0 and length < load.off_steps:
            return False
    return True


def _energies(load: SwitchedLoad, bits: tuple[int, ...]) -> list[float] | None:
    """Return the energy per step (full power until the need is met), None if a need is missed."""
    energies = [0.0] * len(bits)
    for first, end, need in load.windows:
        delivered = 0.0
        for step in range(first, end):
            if bits[step]:
                energies[step] = min(load.step_wh, need - delivered)
                delivered += energies[step]
        if abs(delivered - need) > 1e-9:
            return None
    return energies


def _every_schedule(load: SwitchedLoad, steps: int) -> list[list[float]]:
    """Return the energies of every schedule the load may run."""
    schedules = []
    for bits in product((0, 1), repeat=steps):
        if _keeps_minimum_times(load, bits):
            energies = _energies(load, bits)
            if energies is not None:
                schedules.append(energies)
    return schedules


def _cost(periods: list[Period], schedules: tuple[list[float], ...]) -> float:
    """Return what the loads' energies cost over the periods."""
    return sum(
        p.cost(sum(energies[step] for energies in schedules for step in p.steps))
        for p in periods
    )


@pytest.mark.parametrize(("pump", "bases"), [(PUMP, BASES[0]), (SHORT_PUMP, BASES[1])])
def test_no_schedule_costs_less_than_the_dynamic_programs(
    pump: SwitchedLoad, bases: tuple[float, float, float]
) -> None:
    """Every pair of the loads' schedules, enumerated: the least is the program's."""
    periods = _periods(bases)
    exact = solve_exact([HEATER, pump], periods, 9)
    heaters, pumps = _every_schedule(HEATER, 9), _every_schedule(pump, 9)
    brute = min(_cost(periods, pair) for pair in product(heaters, pumps))
    assert exact.cost == pytest.approx(brute, abs=1e-9)
    # Its own schedule is one of them, at that cost.
    assert exact.energy_wh["heater"] in heaters
    assert exact.energy_wh["pump"] in pumps
    assert _cost(periods, (exact.energy_wh["heater"], exact.energy_wh["pump"])) == (
        pytest.approx(exact.cost, abs=1e-9)
    )


def _cloudy_profile(days: int) -> list[str]:
    """Return a profile: 400 W of load, PV from 09:00 to 17:00 UTC passing clouds."""
    start = datetime(2025, 6, 1, tzinfo=UTC)
    lines = ["time,load,pv"]
    for quarter in range(days * 96):
        moment = start + quarter * timedelta(minutes=15)
        slot = quarter % 96
        pv = (2500 if slot % 3 else 600) if 36 <= slot < 68 else 0
        lines.append(f"{moment.isoformat()},400,{pv}")
    return lines


SITE = {
    "timezone": "UTC",
    "tariff": {"import_price": 0.30, "export_price": 0.08, "netting_minutes": 15},
    "loads": [
        {
            "name": "water_heater",
            "power_w": 3000,
            "energy_kwh_per_day": 1.5,
            "window": ["08:00", "20:00"],
            "min_on_minutes": 15,
            "min_off_minutes": 15,
        },
        {
            "name": "pool_pump",
            "power_w": 750,
            "energy_kwh_per_day": 1.5,
            "window": ["08:00", "18:00"],
            "min_on_minutes": 60,
            "min_off_minutes": 30,
        },
    ],
}


def test_the_mixed_integer_program_allows_the_schedule_at_its_cost() -> None:
    """The program's schedule, fixed in the mixed-integer program, is feasible there at its cost."""
    scored = scored_days(read_profile(_cloudy_profile(2)), read_site(json.dumps(SITE)))
    inputs = exact_inputs(scored)
    assert inputs is not None
    exact = solve_exact(*inputs, scored.last - scored.first)
    program, _ = optimal_program(scored)
    for name, column in program.energy.items():
        for offset, energy in enumerate(exact.energy_wh[name]):
            program.model.fix(column + offset, energy, energy)
    solution = program.model.solve(time_limit_s=60, mip_rel_gap=1e-9)
    assert solution.objective == pytest.approx(exact.cost, abs=1e-6)


def test_optimal_is_proven_and_beaten_by_no_strategy() -> None:
    """At 15-minute netting ``optimal`` is the program's: proven, and below every strategy."""
    site = read_site(json.dumps(SITE))
    strategies = run_site_backtest(
        read_profile(_cloudy_profile(2)), site, ("none", "instant", "optimal")
    )["strategies"]
    best = strategies["optimal"]
    assert best["proven"]
    assert best["gap"] == 0.0
    assert all(f["shortfall_kwh"] == 0 for f in best["loads"].values())
    for name, figures in strategies.items():
        assert best["cost"] <= figures["cost"] + 1e-9, name


def test_a_battery_leaves_it_to_the_mixed_integer_program() -> None:
    """The program holds switched loads alone; a battery's site goes to HiGHS."""
    site = read_site(
        json.dumps({**SITE, "battery": {"capacity_kwh": 5, "power_kw": 2}})
    )
    scored = scored_days(read_profile(_cloudy_profile(2)), site)
    assert exact_inputs(scored) is None
