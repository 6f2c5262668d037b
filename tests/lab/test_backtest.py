"""``eo backtest`` on a measured profile: balance, ordering, errors."""

from datetime import UTC, datetime, timedelta
import json
from pathlib import Path

import pytest

from custom_components.energy_orchestrator.lib.control.ev_charging import WallboxLimits
from eo_lab.backtest.ev import _EvccLike
from eo_lab.backtest.profile import read_profile
from eo_lab.backtest.strategies import run_backtest
from eo_lab.cli import main

PROFILE = (
    Path(__file__).parent.parent / "fixtures" / "profiles" / "emhass_10days_30min.csv"
)


@pytest.fixture(scope="module")
def result() -> dict[str, dict[str, float]]:
    with PROFILE.open() as lines:
        series = read_profile(lines)
    strategies: dict[str, dict[str, float]] = run_backtest(
        series, battery_kwh=10, battery_kw=3
    )["strategies"]
    return strategies


def test_every_strategy_reports_every_figure(
    result: dict[str, dict[str, float]],
) -> None:
    assert list(result) == [
        "none",
        "reactive",
        "orchestrator",
        "perfect_forecast",
        "optimal",
    ]
    for figures in result.values():
        assert set(figures) == {
            "peak_import_w",
            "import_kwh",
            "export_kwh",
            "battery_throughput_kwh",
            "soc_min",
            "soc_max",
            "limit_violations",
        }


def test_nobody_beats_perfect_foresight(result: dict[str, dict[str, float]]) -> None:
    optimal = result["optimal"]["peak_import_w"]
    for name in ("none", "reactive", "orchestrator", "perfect_forecast"):
        assert result[name]["peak_import_w"] >= optimal - 1
    assert result["orchestrator"]["peak_import_w"] < result["reactive"]["peak_import_w"]
    assert result["none"]["battery_throughput_kwh"] == 0


def test_a_perfect_forecast_shows_what_the_forecasts_cost(
    result: dict[str, dict[str, float]],
) -> None:
    """The same controller told the real next 48 h holds a lower peak.

    On this profile the first night is heavier than the day of history
    shows: the forecasts cost the orchestrator several hundred watts, the
    limiter (perfect_forecast against optimal) little.
    """
    orchestrator = result["orchestrator"]["peak_import_w"]
    perfect = result["perfect_forecast"]["peak_import_w"]
    optimal = result["optimal"]["peak_import_w"]
    none = result["none"]["peak_import_w"]
    assert perfect < orchestrator - 300
    assert (none - perfect) / (none - optimal) > 0.9


def test_energy_balances_over_the_run(result: dict[str, dict[str, float]]) -> None:
    """Import - export is the net load plus what the battery lost; nothing else."""
    none = result["none"]
    net_kwh = none["import_kwh"] - none["export_kwh"]
    for name in ("reactive", "orchestrator", "perfect_forecast", "optimal"):
        figures = result[name]
        grid = figures["import_kwh"] - figures["export_kwh"]
        # Losses are at most 10 % of what went through (95 % each way), and
        # a battery that ends below where it started gave the rest.
        assert grid - net_kwh <= 0.1 * figures["battery_throughput_kwh"] + 0.05
        assert 10 <= figures["soc_min"] <= figures["soc_max"] <= 100


def test_cli_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "backtest",
        "--input",
        str(PROFILE),
        "--battery-kwh",
        "10",
        "--battery-kw",
        "3",
    ]
    assert main([*args, "--import-limit", "2500", "--json"]) == 0
    output = json.loads(capsys.readouterr().out)
    assert set(output) == {"scored_from", "scored_to", "strategies"}
    # A day of warm-up; the last row (21:00) holds for its half hour.
    assert output["scored_from"] == "2025-03-13T00:00:00+00:00"
    assert output["scored_to"] == "2025-03-21T21:30:00+00:00"
    assert output["strategies"]["none"]["limit_violations"] > 0


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("time,pv\n0,1\n", "line 1: a profile needs the columns time and load"),
        ("time,load\n0,100\n1800,lots\n", "line 3: load 'lots' is not a number"),
        ("time,load\n0,100\nmonday,100\n", "line 3: Invalid isoformat string"),
        ("time,load\n0,100\n1800,200\n", "too short"),
    ],
)
def test_bad_profiles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, error: str
) -> None:
    path = tmp_path / "profile.csv"
    path.write_text(text)
    args = [
        "backtest",
        "--input",
        str(path),
        "--battery-kwh",
        "10",
        "--battery-kw",
        "3",
    ]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert error in err
    assert err.count("\n") == 1


def test_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    args = [
        "backtest",
        "--input",
        str(PROFILE),
        "--battery-kwh",
        "10",
        "--battery-kw",
        "3",
    ]
    assert main([*args, "--interval", "7"]) == 1
    assert "multiple of 5 minutes" in capsys.readouterr().err
    assert main([*args, "--import-limit", "-4"]) == 1
    assert ">= 0 W" in capsys.readouterr().err


def test_backtest_ev_prints_both_strategies(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["backtest-ev", "--input", str(PROFILE), "--arrive", "08:00"]
    assert main([*args, "--depart", "18:00", "--need-kwh", "10", "--json"]) == 0
    output = json.loads(capsys.readouterr().out)
    baseline, ours = (
        output["strategies"]["evcc-like"],
        output["strategies"]["orchestrator"],
    )
    assert set(ours) == {
        "solar_kwh_to_ev",
        "battery_kwh_to_ev",
        "grid_kwh_to_ev",
        "delivered_kwh",
        "target_met_days",
        "phase_switches",
        "start_stops",
    }
    for figures in (baseline, ours):
        parts = (
            figures["solar_kwh_to_ev"]
            + figures["battery_kwh_to_ev"]
            + figures["grid_kwh_to_ev"]
        )
        assert parts == pytest.approx(figures["delivered_kwh"], abs=0.05)
    assert ours["solar_kwh_to_ev"] > baseline["solar_kwh_to_ev"]
    assert ours["phase_switches"] < baseline["phase_switches"]
    assert ours["target_met_days"] == baseline["target_met_days"] == 10


def test_backtest_ev_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["backtest-ev", "--input", str(PROFILE), "--need-kwh", "10"]
    assert main([*args, "--arrive", "4pm", "--depart", "07:30"]) == 1
    assert "HH:MM" in capsys.readouterr().err
    assert (
        main([*args, "--arrive", "16:00", "--depart", "07:30", "--max-current", "3"])
        == 1
    )
    assert "minimum <= maximum" in capsys.readouterr().err


def test_backtest_ev_bad_profiles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The car's replay reads and reports a profile as the peak-shaving one does."""
    args = ["--arrive", "16:00", "--depart", "07:30", "--need-kwh", "10"]
    missing = tmp_path / "missing.csv"
    assert main(["backtest-ev", "--input", str(missing), *args]) == 1
    assert capsys.readouterr().err.startswith(f"eo: cannot read {missing}")
    garbage = tmp_path / "profile.csv"
    garbage.write_text("time,load\n0,100\n1800,lots\n")
    assert main(["backtest-ev", "--input", str(garbage), *args]) == 1
    err = capsys.readouterr().err
    assert f"{garbage}: line 3: load 'lots' is not a number" in err
    assert err.count("\n") == 1


def test_the_baseline_starts_afresh_when_the_car_comes_back() -> None:
    """evcc disables the charger when the car leaves; its enable delay runs again."""
    baseline = _EvccLike(WallboxLimits())
    start = datetime(2026, 6, 1, 8, tzinfo=UTC)
    for minute in range(3):
        command = baseline.decide(start + timedelta(minutes=minute), 3000, None)
    assert command.enable
    assert baseline.start_stops == 1
    baseline.disconnect()
    evening = start + timedelta(hours=8)
    assert not baseline.decide(evening, 3000, None).enable
    assert baseline.decide(evening + timedelta(minutes=1), 3000, None).enable
    assert baseline.start_stops == 2
