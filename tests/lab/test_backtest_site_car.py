"""``eo backtest-site`` with a car and a grid limit (issue 24)."""

import json
from typing import Any

import pytest

from eo_lab.backtest.site_config import SiteError, read_site

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
