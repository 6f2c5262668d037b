"""Bad input to ``eo`` ends in one line naming it, never a traceback.

Each case is one the fault campaign of issue 26 found ending in a traceback
(or running for ever): files that are not UTF-8 or hold a huge field, times
and numbers out of range, speeds no port or bus takes, benchmarks of no
devices.
"""

from pathlib import Path

import pytest

from eo_lab.cli import main

_SOC = ["soc", "--capacity-ah", "100", "--chemistry", "lfp", "--cells", "16"]
_BACKTEST = ["backtest", "--battery-kwh", "10", "--battery-kw", "5"]


@pytest.mark.parametrize(
    ("command", "content", "message"),
    [
        (_SOC, b"time,voltage,current\n\xff\xfe1,2,3\n", "not UTF-8 text"),
        (
            _SOC,
            b"time,voltage,current\n1," + b"9" * 140_000 + b",3\n",
            "field larger than field limit",
        ),
        (_SOC, b"time,voltage,current\n1e300,52,3\n", "line 2: '1e300' is not a time"),
        (_BACKTEST, b"time,load\n\xff,1\n", "not UTF-8 text"),
        (
            _BACKTEST,
            b"time,load\n1," + b"9" * 140_000 + b"\n",
            "field larger than field limit",
        ),
    ],
)
def test_a_bad_file_is_one_line_naming_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
    content: bytes,
    message: str,
) -> None:
    path = tmp_path / "input.csv"
    path.write_bytes(content)
    status = main([*command, "--input", str(path)])
    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith(f"eo: {path}: {message}") or err.startswith(
        f"eo: {path}: line"
    ), err
    assert message in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            [
                "probe",
                "--family",
                "sdm630",
                "--url",
                "loop://",
                "--baudrate",
                "999999999",
            ],
            "eo: --baudrate 999999999 is outside 1-4000000",
        ),
        (
            ["probe", "--family", "sdm630", "--url", "tcp://127.0.0.1:70000"],
            "eo: invalid port in 'tcp://127.0.0.1:70000'",
        ),
        (
            ["bench", "scale", "--devices", "0"],
            "eo: --devices, --gateways and --cycles",
        ),
        (
            ["bench", "scale", "--gateways", "0"],
            "eo: --devices, --gateways and --cycles",
        ),
        (
            ["bench", "scale", "--devices", "7", "--gateways", "5"],
            "eo: --devices 7 is not a multiple of --gateways 5",
        ),
        (["bench", "poll", "--polls", "0"], "eo: --polls must be at least 1"),
        (["bench", "soc", "--days", "99999999999"], "eo: --days must be 1-3650"),
        (["faults", "--only", "flood"], "eo: no fault 'flood'; the faults are: drop,"),
        (
            [
                "report",
                "--db",
                "sqlite:///nowhere.db",
                "--entities",
                "load=sensor.load",
                "--from",
                "2025-01-01",
                "--to",
                "2025-01-02",
                "--out",
                "-",
                "--timezone",
                "Europe/" + "x" * 300,
            ],
            "eo: unknown time zone 'Europe/xxx",
        ),
    ],
)
def test_a_bad_option_is_one_line_naming_it(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith(message), err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    "argv",
    [
        [*_SOC[:2], "nan", *_SOC[3:], "--input", "x.csv"],
        ["simulate", "--speed", "nan"],
        ["simulate", "--speed", "inf"],
        [*_BACKTEST[:2], "nan", *_BACKTEST[3:], "--input", "x.csv"],
        ["bench", "scale", "--interval", "nan"],
    ],
)
def test_a_number_that_is_none_is_refused_by_the_parser(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "is not a finite number" in err
    assert "Traceback" not in err
