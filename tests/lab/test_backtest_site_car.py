"""``eo backtest-site`` with a car and a grid limit (issue 24)."""

from datetime import UTC, datetime, timedelta
import json
from pathlib import Path
from typing import Any

import pytest

from custom_components.energy_orchestrator.lib.control.flexible_loads import (
    Measurement,
    Plan,
)
from eo_lab.backtest.profile import read_profile
from eo_lab.backtest.site import run_site_backtest
from eo_lab.backtest.site_car import SiteRoom
from eo_lab.backtest.site_config import Site, SiteError, read_site
from eo_lab.backtest.site_replay import replay, scored_days
from eo_lab.backtest.site_strategies import Orchestrator

ROOT = Path(__file__).parents[2]
SITES_CAR = ROOT / "eo_lab" / "samples" / "sites_car"
FIXTURE = ROOT / "tests" / "fixtures" / "profiles" / "emhass_10days_30min.csv"
BASE: dict[str, Any] = {
    "timezone": "UTC",
    "tariff": {"import_price": 0.20, "export_price": 0.05},
    "loads": [{"name": "water_heater", "power_w": 2000, "energy_kwh_per_day": 2}],
}
CAR = {
    "arrive": "17:00",
    "depart": "07:30",
    "need_kwh": 10,
    "max_current_a": 16,
    "phases": [1, 3],
}


def test_site_reads_the_car_and_the_grid() -> None:
    """The car is a load over its window at its full power; the limit is kept."""
    site = read_site(
        json.dumps({**BASE, "car": CAR, "grid": {"import_limit_w": 12000}})
    )
    assert site.car is not None
    assert site.grid is not None
    assert site.grid.import_limit_w == 12000
    car = site.all_loads[-1]
    assert (car.name, car.power_w, car.energy_wh_per_day) == ("car", 11040, 10000)
    assert (car.window_start_min, car.window_end_min) == (17 * 60, 7 * 60 + 30)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"arrive": "25:00"}, "car: '25:00' is not a time of day"),
        ({"depart": "7h30"}, "car: '7h30' is not a time of day"),
        ({"depart": "17:00"}, "arrive and depart are the same time"),
        ({"need_kwh": 0}, "need_kwh must be above 0"),
        ({"need_kwh": "ten"}, "need_kwh is a number"),
        ({"phases": [1, 2]}, "phases lists 1, 3 or both"),
        ({"phases": []}, "phases lists 1, 3 or both"),
        ({"max_current_a": 4}, "max_current_a must be 6-80 A"),
        ({"need_kwh": 200}, "does not fit the window"),
        ({"arrive": None}, "car needs 'arrive'"),
    ],
)
def test_a_bad_car_says_why(change: dict[str, Any], message: str) -> None:
    """Each mistake in the car is named."""
    car = {k: v for k, v in {**CAR, **change}.items() if v is not None}
    with pytest.raises(SiteError, match=message):
        read_site(json.dumps({**BASE, "car": car}))


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"import_limit_w": 0}, "import_limit_w must be above 0"),
        ({}, "grid needs 'import_limit_w'"),
        ({"import_limit_w": 9000, "phase_limit_a": 25}, "profiles have none"),
        ([], "grid is an object"),
    ],
)
def test_a_bad_grid_says_why(grid: Any, message: str) -> None:
    """Each mistake in the grid is named."""
    with pytest.raises(SiteError, match=message):
        read_site(json.dumps({**BASE, "grid": grid}))


def _profile(days: int, evening_w: float) -> list[str]:
    """Return a profile: 500 W, ``evening_w`` from 18:00 to 21:00, 4 kW of sun midday."""
    start = datetime(2025, 6, 1, tzinfo=UTC)
    lines = ["time,load,pv"]
    for quarter in range(days * 96):
        moment = start + quarter * timedelta(minutes=15)
        pv = 4000 if 40 <= quarter % 96 < 60 else 0
        load = evening_w if 72 <= quarter % 96 < 84 else 500
        lines.append(f"{moment.isoformat()},{load},{pv}")
    return lines


def _run(car: dict[str, Any], evening_w: float, days: int = 3) -> dict[str, Any]:
    """Return every strategy on the profile with a demand charge and a 12 kW limit."""
    site = read_site(
        json.dumps(
            {
                **BASE,
                "tariff": {**BASE["tariff"], "demand_charge_per_kw": 10},
                "car": car,
                "grid": {"import_limit_w": 12000},
            }
        )
    )
    return run_site_backtest(read_profile(_profile(days, evening_w)), site)


@pytest.fixture(scope="module")
def overnight() -> dict[str, Any]:
    """Return the five strategies with the issue's car on three days."""
    return _run(CAR, 3000)


@pytest.mark.slow
def test_every_strategy_meets_the_car_and_reports_it(
    overnight: dict[str, Any],
) -> None:
    """Each strategy charges the car's need and has the issue's fields."""
    strategies = overnight["strategies"]
    assert set(strategies) == {
        "none",
        "instant",
        "orchestrator",
        "optimal",
        "independent",
    }
    for name, figures in strategies.items():
        assert figures["car"]["need_kwh"] == 10.0, name
        assert figures["car"]["energy_kwh"] == pytest.approx(10.0, abs=1e-3), name
        assert figures["car"]["shortfall_kwh"] == 0.0, name
        assert figures["car"]["solar_kwh"] >= 0.0
        assert figures["cost"] == pytest.approx(
            figures["energy_cost"] + figures["demand_cost"], abs=1e-3
        )
        assert figures["limit_violations"] >= 0
        assert figures["loads"]["water_heater"]["shortfall_kwh"] == 0.0, name


@pytest.mark.slow
def test_the_dumb_charger_lifts_the_peak_and_the_orchestrator_spreads_it(
    overnight: dict[str, Any],
) -> None:
    """``none`` charges at 11 kW in the evening; the orchestrator stays at optimal's peak."""
    strategies = overnight["strategies"]
    assert strategies["none"]["peak_import_w"] > 11000
    orchestrator = strategies["orchestrator"]
    assert orchestrator["peak_import_w"] <= strategies["optimal"]["peak_import_w"] + 1
    assert orchestrator["cost"] < strategies["independent"]["cost"]


@pytest.mark.slow
def test_independent_breaks_the_limit_where_the_orchestrator_does_not() -> None:
    """A short evening session under a 9.5 kW evening: the deadline stretch stacks on it."""
    car = {**CAR, "arrive": "17:00", "depart": "21:00", "need_kwh": 8}
    strategies = _run(car, 9500)["strategies"]
    assert strategies["independent"]["limit_violations"] > 0
    assert strategies["orchestrator"]["limit_violations"] == 0
    assert strategies["orchestrator"]["car"]["shortfall_kwh"] == 0.0
    assert strategies["independent"]["car"]["shortfall_kwh"] == 0.0


def _billed_site_with_battery() -> Site:
    """Return the base site with a demand charge, a 10 kWh battery, the car, 12 kW."""
    return read_site(
        json.dumps(
            {
                **BASE,
                "tariff": {**BASE["tariff"], "demand_charge_per_kw": 10},
                "battery": {"capacity_kwh": 10, "power_kw": 5},
                "car": CAR,
                "grid": {"import_limit_w": 12000},
            }
        )
    )


@pytest.mark.slow
def test_with_a_battery_the_car_lifts_the_billed_peak_by_its_minimum_only() -> None:
    """The battery holds the 3 kW evening at 500 W; the car adds only its 6 A.

    The loads' plan bills 500 W and leaves the car no room: the wallbox
    manager lifts the level by the least its need takes (its minimum, one
    phase at 6 A, all night), not to full power in the morning.
    """
    site = _billed_site_with_battery()
    strategies = run_site_backtest(
        read_profile(_profile(3, 3000)), site, ("orchestrator", "independent")
    )["strategies"]
    orchestrator, independent = strategies["orchestrator"], strategies["independent"]
    assert orchestrator["car"]["shortfall_kwh"] == 0.0
    assert orchestrator["peak_import_w"] <= 500 + 230 * 6 + 1
    assert orchestrator["cost"] < independent["cost"]
    assert orchestrator["limit_violations"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["car_demand", "car_demand_battery"])
def test_the_orchestrator_beats_independent_on_the_measured_fixture(name: str) -> None:
    """On the EMHASS days: cheaper than independent, no limit broken, every need met."""
    site = read_site((SITES_CAR / f"{name}.json").read_text())
    with FIXTURE.open() as lines:
        series = read_profile(lines)
    strategies = run_site_backtest(series, site, ("orchestrator", "independent"))[
        "strategies"
    ]
    orchestrator, independent = strategies["orchestrator"], strategies["independent"]
    assert orchestrator["cost"] < independent["cost"]
    assert orchestrator["limit_violations"] <= independent["limit_violations"]
    assert orchestrator["car"]["shortfall_kwh"] == 0.0
    assert all(load["shortfall_kwh"] == 0.0 for load in orchestrator["loads"].values())


@pytest.mark.slow
def test_the_car_s_session_is_in_the_plan_and_out_of_its_room() -> None:
    """The orchestrator gives its plan the car's session; the car's room leaves it out.

    The plan places the car (its need by its departure) to plan the battery
    and the billed peak with it; the room ahead the wallbox manager fills is
    the level less the plan's import before the battery and without the car,
    and under the grid's limit the limit less its import without the car.
    """
    site = _billed_site_with_battery()
    scored = scored_days(read_profile(_profile(3, 3000)), site)
    seen: list[tuple[Plan, SiteRoom]] = []

    class Watched(Orchestrator):
        """The orchestrator, its plan and the car's room kept at 20:00 UTC."""

        def _site_room(self, moment: datetime, last: Measurement) -> SiteRoom:
            room = super()._site_room(moment, last)
            plan = self.controller.plan
            if moment.hour == 20 and moment.minute == 0 and plan is not None:
                seen.append((plan, room))
            return room

    figures = replay(scored, Watched(scored))
    assert figures["car"]["shortfall_kwh"] == 0.0
    # The first scored evening's session (the last one ends past the profile).
    plan, room = seen[0]
    car = plan.sessions["car"]
    assert sum(car) * 0.25 > 1000.0
    assert room.room_ahead is not None
    level = plan.billed_peak_w
    for index, power in enumerate(car):
        before = plan.grid_w[index] - plan.battery_w[index] - power
        assert room.room_ahead.peak_w[index] >= level - before - 1.0
        assert room.room_ahead.grid_w is not None
        without = max(plan.grid_w[index] - power, before)
        assert room.room_ahead.grid_w[index] == pytest.approx(12000.0 - without)
