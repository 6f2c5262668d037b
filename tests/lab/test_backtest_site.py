"""``eo backtest-site``: the flexible loads replayed on a measured profile."""

from datetime import UTC, datetime, timedelta
import json
from pathlib import Path
from typing import Any

import pytest

from eo_lab.backtest import site_bound
from eo_lab.backtest.profile import read_profile
from eo_lab.backtest.site import run_site_backtest
from eo_lab.backtest.site_bound import causal_site_bound
from eo_lab.backtest.site_config import SiteError, read_site
from eo_lab.cli import main

PROFILE = (
    Path(__file__).parents[1] / "fixtures" / "profiles" / "emhass_10days_30min.csv"
)
SITE = {
    "timezone": "Europe/Paris",
    "tariff": {"import_price": 0.20, "export_price": 0.05, "netting_minutes": 60},
    "loads": [
        {
            "name": "water_heater",
            "power_w": 2000,
            "energy_kwh_per_day": 4,
            "window": ["00:00", "24:00"],
            "min_on_minutes": 10,
            "min_off_minutes": 10,
        }
    ],
}


def _sunny_profile(days: int) -> list[str]:
    """Return a profile: 500 W of load, 4 kW of PV from 10:00 to 15:00 UTC."""
    start = datetime(2025, 6, 1, tzinfo=UTC)
    lines = ["time,load,pv"]
    for quarter in range(days * 96):
        moment = start + quarter * timedelta(minutes=15)
        pv = 4000 if 40 <= quarter % 96 < 60 else 0
        lines.append(f"{moment.isoformat()},500,{pv}")
    return lines


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    """Return the four strategies on two sunny days (one of history)."""
    site = read_site(json.dumps({**SITE, "timezone": "UTC"}))
    return run_site_backtest(read_profile(_sunny_profile(2)), site)


def test_every_strategy_reports_every_figure_and_meets_every_need(
    result: dict[str, Any],
) -> None:
    """Each strategy has the issue's fields; every need is met on a sunny day."""
    assert result["scored_from"] == "2025-06-02T00:00:00+00:00"
    assert result["scored_to"] == "2025-06-03T00:00:00+00:00"
    for figures in result["strategies"].values():
        assert {
            "cost",
            "import_kwh",
            "export_kwh",
            "netted_import_kwh",
            "netted_export_kwh",
            "loads",
        } <= set(figures)
        heater = figures["loads"]["water_heater"]
        assert heater["need_kwh"] == 4.0
        assert heater["energy_kwh"] == pytest.approx(4.0)
        assert heater["shortfall_kwh"] == 0.0


def test_energy_balances_and_nobody_beats_perfect_foresight(
    result: dict[str, Any],
) -> None:
    """Net grid energy is the profile's plus the loads'; optimal costs least."""
    # 12 kWh of load, 20 kWh of PV and 4 kWh for the heater.
    for figures in result["strategies"].values():
        net = figures["import_kwh"] - figures["export_kwh"]
        assert net == pytest.approx(12 - 20 + 4, abs=1e-6)
        netted = figures["netted_import_kwh"] - figures["netted_export_kwh"]
        assert netted == pytest.approx(net, abs=1e-6)
    costs = {name: f["cost"] for name, f in result["strategies"].items()}
    assert costs["optimal"] <= min(costs.values()) + 1e-6
    # The timer heats at midnight from the grid; the others on the sun.
    assert costs["none"] > costs["instant"] >= costs["orchestrator"] - 1e-6
    assert costs["orchestrator"] == pytest.approx(costs["optimal"], abs=0.01)


def test_a_battery_and_prices_from_a_file(tmp_path: Path) -> None:
    """PRICES.csv replaces the fixed prices; the battery makes optimal cheaper."""
    prices = ["time,import,export"] + [
        f"{(datetime(2025, 6, 1, tzinfo=UTC) + timedelta(hours=h)).isoformat()},"
        f"{0.10 if h % 24 < 8 else 0.30},0.04"
        for h in range(48)
    ]
    utc = {**SITE, "timezone": "UTC"}
    without = read_site(json.dumps(utc), prices)
    with_battery = read_site(
        json.dumps({**utc, "battery": {"capacity_kwh": 10, "power_kw": 5}}), prices
    )
    series = read_profile(_sunny_profile(2))
    plain = run_site_backtest(series, without, ("none", "optimal"))["strategies"]
    stored = run_site_backtest(series, with_battery, ("none", "optimal"))["strategies"]
    assert stored["optimal"]["cost"] < plain["optimal"]["cost"]
    assert plain["optimal"]["cost"] < plain["none"]["cost"]


@pytest.mark.slow
def test_the_demand_charge_bills_each_strategys_peak() -> None:
    """Cost is energy plus 10 per kW of the highest 15-minute import, hand-computed."""
    utc = {
        **SITE,
        "timezone": "UTC",
        "tariff": {**SITE["tariff"], "demand_charge_per_kw": 10, "billing_minutes": 15},
    }
    site = read_site(json.dumps(utc))
    assert site.tariff.billing_interval == timedelta(minutes=15)
    series = read_profile(_sunny_profile(2))
    names = ("none", "orchestrator", "optimal")
    strategies = run_site_backtest(series, site, names)["strategies"]
    plain = run_site_backtest(
        series, read_site(json.dumps({**SITE, "timezone": "UTC"})), ("none", "optimal")
    )["strategies"]
    timer = strategies["none"]
    # The timer heats 00:00-02:00 on top of 500 W: 2.5 kW billed, 25.
    assert timer["peak_import_w"] == pytest.approx(2500.0)
    assert timer["demand_cost"] == pytest.approx(25.0)
    assert timer["energy_cost"] == pytest.approx(plain["none"]["cost"])
    assert timer["cost"] == pytest.approx(timer["energy_cost"] + 25.0)
    # On the sun: only the house's 500 W is billed, 5.
    best = strategies["optimal"]
    assert best["peak_import_w"] == pytest.approx(500.0)
    assert best["demand_cost"] == pytest.approx(5.0)
    assert best["cost"] == pytest.approx(plain["optimal"]["cost"] + 5.0, abs=1e-3)
    assert best["proven"]
    ours = strategies["orchestrator"]
    assert ours["peak_import_w"] == pytest.approx(500.0)
    assert ours["cost"] == pytest.approx(best["cost"], abs=0.01)


def test_the_causal_bound_is_whole_where_waiting_costs_nothing() -> None:
    """At one import price a controller can wait for the sun: all of the saving."""
    site = read_site(json.dumps({**SITE, "timezone": "UTC"}))
    bound = causal_site_bound(read_profile(_sunny_profile(2)), site)
    assert bound["branches"] == 23
    assert bound["share"] == pytest.approx(1.0)


def test_the_causal_bound_is_short_where_the_night_must_guess_the_day() -> None:
    """A battery filled at night for a day without sun: no controller is sure of it all.

    Cheap nights, dear days; the third day has no sun. Whether to fill the
    battery from the grid at night pays off only on the sunless day, and
    the branches (the day before repeated: sun) say the opposite.
    """
    lines = _sunny_profile(3)
    dark = [
        line if index <= 2 * 96 else line.rsplit(",", 1)[0] + ",0"
        for index, line in enumerate(lines)
    ]
    prices = [["00:00", 0.10], ["08:00", 0.30]]
    site = read_site(
        json.dumps(
            {
                **SITE,
                "timezone": "UTC",
                "tariff": {**SITE["tariff"], "import_price": prices},
                "battery": {"capacity_kwh": 10, "power_kw": 5},
            }
        )
    )
    bound = causal_site_bound(read_profile(dark), site)
    assert 0.0 < bound["share"] < 0.95
    assert bound["relaxed_optimal_cost"] < bound["none_cost"]


def test_bad_sites_say_why() -> None:
    """A site that cannot be used names its fault."""
    with pytest.raises(SiteError, match="does not fit the window"):
        read_site(
            json.dumps(
                {
                    **SITE,
                    "loads": [
                        {
                            "name": "pump",
                            "power_w": 500,
                            "energy_kwh_per_day": 5,
                            "window": ["08:00", "12:00"],
                        }
                    ],
                }
            )
        )
    with pytest.raises(SiteError, match="netting period"):
        read_site(
            json.dumps({**SITE, "tariff": {**SITE["tariff"], "netting_minutes": 30}})
        )  # type: ignore[dict-item]
    with pytest.raises(SiteError, match="billing interval"):
        read_site(
            json.dumps({**SITE, "tariff": {**SITE["tariff"], "billing_minutes": 7}})
        )  # type: ignore[dict-item]
    with pytest.raises(SiteError, match="time zone"):
        read_site(json.dumps({**SITE, "timezone": "Mars/Olympus"}))


@pytest.mark.slow
def test_cli_prints_one_json_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``eo backtest-site --json`` prints the figures; a broken site fails in a line."""
    profile = tmp_path / "profile.csv"
    profile.write_text("\n".join(_sunny_profile(2)))
    site = tmp_path / "site.json"
    site.write_text(json.dumps({**SITE, "timezone": "UTC"}))
    args = ["backtest-site", "--input", str(profile), "--site", str(site)]
    assert main([*args, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed["strategies"]) == {
        "none",
        "instant",
        "orchestrator",
        "optimal",
        "independent",
    }
    assert main(args) == 0
    assert "orchestrator" in capsys.readouterr().out
    site.write_text("{")
    assert main(args) == 1
    assert "SITE.json" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_bound_adds_foresight_and_the_causal_bound(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--bound`` adds the orchestrator with the real future and the causal bound."""
    profile = tmp_path / "profile.csv"
    profile.write_text("\n".join(_sunny_profile(2)))
    site = tmp_path / "site.json"
    site.write_text(json.dumps({**SITE, "timezone": "UTC"}))
    args = ["backtest-site", "--input", str(profile), "--site", str(site), "--bound"]
    assert main([*args, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert "foresight" in printed["strategies"]
    assert printed["causal_bound"]["share"] == pytest.approx(1.0)
    foresight = printed["strategies"]["foresight"]["cost"]
    assert foresight >= printed["strategies"]["optimal"]["cost"] - 1e-6
    assert main(args) == 0
    assert "causal bound: 100.0%" in capsys.readouterr().out


@pytest.mark.slow
def test_the_measured_profile_runs_through_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On two measured days the orchestrator meets the need and beats the timer."""
    profile = tmp_path / "profile.csv"
    profile.write_text("\n".join(PROFILE.read_text().splitlines()[: 1 + 2 * 48]))
    site = tmp_path / "site.json"
    site.write_text(json.dumps({**SITE, "timezone": "UTC"}))
    assert (
        main(["backtest-site", "--input", str(profile), "--site", str(site), "--json"])
        == 0
    )
    strategies = json.loads(capsys.readouterr().out)["strategies"]
    assert strategies["orchestrator"]["loads"]["water_heater"]["shortfall_kwh"] == 0
    assert strategies["orchestrator"]["cost"] <= strategies["none"]["cost"]
    assert strategies["optimal"]["cost"] <= strategies["orchestrator"]["cost"]


@pytest.mark.slow
def test_the_past_days_as_scenarios_run_through_the_replay() -> None:
    """``scenarios`` (the orchestrator weighing each past day) replays like it.

    Not printed by the CLI; on three sunny days it meets the need, nets
    what it imports and exports, and costs less than the timer. (Not the
    orchestrator's cost: on days alike its plans cost the same, but ties
    broken otherwise moved the replay by 0.06.)
    """
    site = read_site(
        json.dumps(
            {
                **SITE,
                "timezone": "UTC",
                "tariff": {
                    "import_price": [["00:00", 0.13], ["08:00", 0.20], ["18:00", 0.28]],
                    "export_price": 0.06,
                    "netting_minutes": 60,
                },
                "battery": {"capacity_kwh": 10, "power_kw": 5},
            }
        )
    )
    series = read_profile(_sunny_profile(3))
    strategies = run_site_backtest(series, site, ("none", "scenarios"))["strategies"]
    weighed = strategies["scenarios"]
    assert weighed["loads"]["water_heater"]["shortfall_kwh"] == 0.0
    assert weighed["cost"] < strategies["none"]["cost"]
    netted = weighed["netted_import_kwh"] - weighed["netted_export_kwh"]
    assert netted == pytest.approx(weighed["import_kwh"] - weighed["export_kwh"])


def test_a_causal_bound_not_solved_in_time_is_one_line_not_a_traceback(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HiGHS out of time for the branches' program: said in one line, exit 1."""
    monkeypatch.setattr(site_bound, "BOUND_TIME_LIMIT_S", 0.0)
    profile = tmp_path / "profile.csv"
    profile.write_text("\n".join(_sunny_profile(2)))
    site = tmp_path / "site.json"
    site.write_text(json.dumps({**SITE, "timezone": "UTC"}))
    args = ["backtest-site", "--input", str(profile), "--site", str(site), "--bound"]
    assert main(args) == 1
    error = capsys.readouterr().err
    assert error.startswith("eo: the causal bound over 23 branches was not solved:")
    assert "Time limit reached" in error
    assert "Traceback" not in error
