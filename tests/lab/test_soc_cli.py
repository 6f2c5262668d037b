"""``eo soc``, ``eo bench soc`` and ``eo bench plan`` as a user runs them."""

import json
from pathlib import Path

import pytest

from custom_components.energy_orchestrator.lib.control.battery_model import (
    Chemistry,
    cell_ocv,
)
from eo_lab.cli import main


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "trace.csv"
    path.write_text(text)
    return str(path)


def soc_args(path: str, *extra: str) -> list[str]:
    return [
        "soc",
        "--input",
        path,
        "--capacity-ah",
        "100",
        "--chemistry",
        "lfp",
        "--cells",
        "16",
        *extra,
    ]


def test_prints_a_soc_for_every_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An hour at 10 A into 100 Ah from 50 %: 59.9 % (efficiency 0.99)."""
    rows = ["time,voltage,current,temperature"]
    rows += [f"{t},52.8,10,25" for t in range(0, 3601, 60)]
    rows.append("2026-01-01T00:00:00,52.8,,")  # ISO time, missing current
    path = write(tmp_path, "\n".join(rows) + "\n")
    assert main(soc_args(path, "--initial-soc", "50")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "time,soc"
    assert len(lines) == 1 + 61 + 1
    assert lines[1] == "0,50.00"
    assert lines[61] == "3600,59.90"
    assert lines[62] == "2026-01-01T00:00:00,59.90"


def test_without_a_start_the_rested_voltage_starts_the_count(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    voltage = cell_ocv(Chemistry.LFP, 0.08) * 16
    path = write(tmp_path, f"time,voltage,current\n0,{voltage},0\n")
    assert main(soc_args(path)) == 0
    assert capsys.readouterr().out.splitlines()[1] == "0,8.00"


def test_an_implausible_voltage_leaves_the_soc_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "time,voltage,current\n0,12.0,0\n5,,0\n")
    assert main(soc_args(path)) == 0
    assert capsys.readouterr().out.splitlines()[1:] == ["0,", "5,"]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("time,voltage\n0,52\n", "line 1: missing column(s) current"),
        (
            "time,voltage,current\n0,52,1\n5,52,many\n",
            "line 3: current 'many' is not a number",
        ),
        (
            "time,voltage,current\n0,52,1\nyesterday,52,1\n",
            "line 3: Invalid isoformat string",
        ),
        ("time,voltage,current\n,52,1\n", "line 2: time is empty"),
    ],
)
def test_bad_rows_name_their_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, error: str
) -> None:
    path = write(tmp_path, text)
    assert main(soc_args(path)) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"eo: {path}: ")
    assert error in captured.err
    assert captured.err.count("\n") == 1


def test_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(soc_args(str(tmp_path / "missing.csv"))) == 1
    assert "cannot read" in capsys.readouterr().err
    path = write(tmp_path, "time,voltage,current\n")
    assert main(soc_args(path, "--initial-soc", "140")) == 1
    assert "outside 0-100" in capsys.readouterr().err
    args = soc_args(path)
    args[args.index("100")] = "0"
    assert main(args) == 1
    assert capsys.readouterr().err == "eo: The capacity must be positive.\n"


def test_bench_soc_prints_the_error_per_day(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """One day of one month and of one month drawn at random: figures, not limits."""
    args = ["bench", "soc", "--days", "1", "--month", "steady", "--validation", "1"]
    assert main([*args, "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    (steady,) = figures["months"]
    assert steady["month"] == "steady"
    assert steady["steps"] == 2879  # every 30 s through the day
    assert set(steady["estimator"]) == {"mean", "max"}
    assert set(steady["plain_coulomb_counting"]) == {"mean", "max"}
    assert len(steady["per_day"]) == 1
    (drawn,) = figures["validation"]
    assert drawn["month"] == "random 1000"
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("random 1000 ") for line in lines)
    table = lines.index("day " + f"{'steady':>13}")
    assert lines[table + 1].startswith("  1 ")


def test_bench_soc_refuses_a_month_it_does_not_have(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["bench", "soc", "--month", "june"]) == 1
    assert "no month 'june'" in capsys.readouterr().err


@pytest.mark.slow
def test_bench_plan_prints_the_planner_and_the_re_plans(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Figures, not limits: only that each is printed and is a time."""
    assert main(["bench", "plan", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["steps"] == 192
    for key in ("ms_mean", "replan_ms_mean", "daily_replan_ms_mean"):
        assert figures[key] > 0
    assert main(["bench", "plan"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "energy planner, 192 steps (48 h at 15 min)",
        "peak-shaving re-plan (forecasts, plan, robust peak)",
        "first re-plan of a day (also replays yesterday for the caution)",
    ]


@pytest.mark.slow
def test_bench_poll_and_scale_run_their_devices(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The polling benchmarks read real simulated meters (scale in a child process)."""
    assert main(["bench", "poll", "--polls", "2", "--json"]) == 0
    poll = json.loads(capsys.readouterr().out)
    assert poll["planned"]["requests"] < poll["one_request_per_value"]["requests"]
    assert (
        main(
            [
                "bench",
                "scale",
                *("--devices", "2", "--gateways", "1"),
                *("--cycles", "2", "--interval", "0.1", "--json"),
            ]
        )
        == 0
    )
    scale = json.loads(capsys.readouterr().out)
    assert scale["devices"] == 2
    assert scale["requests_per_cycle"] >= 2
