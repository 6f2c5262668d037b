"""The ``eo`` command line, against the simulated site."""

import asyncio
import json
import subprocess
import sys

import pytest

from custom_components.energy_orchestrator.lib.drivers.eastron import SDM630_POINTS
from custom_components.energy_orchestrator.lib.drivers.families import FAMILIES
from eo_lab.cli import main
from eo_lab.sim.simulated_site import SimulatedSite
from tests.conftest import SIM_SERIAL


async def _run(args: list[str]) -> int:
    """Run ``eo`` in a thread: it runs its own event loop, like from a shell."""
    return await asyncio.to_thread(main, args)


async def test_probe_json(
    site: SimulatedSite, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await _run(
        [
            "probe",
            "--family",
            "sdm630",
            "--url",
            f"tcp://127.0.0.1:{site.port}",
            "--unit",
            "1",
            "--json",
        ]
    )
    assert status == 0
    result = json.loads(capsys.readouterr().out)
    assert result["family"] == "sdm630"
    assert result["identity"] == {
        "manufacturer": "Eastron",
        "model": "SDM630",
        "serial_number": SIM_SERIAL,
        "firmware": None,
    }
    assert set(result["readings"]) == {p.key for p in SDM630_POINTS}
    assert result["readings"]["grid_import_energy"]["unit"] == "Wh"
    assert result["readings"]["frequency"]["value"] == pytest.approx(50, abs=0.5)


async def test_probe_rtu_over_tcp_as_table(capsys: pytest.CaptureFixture[str]) -> None:
    async with SimulatedSite(host="127.0.0.1", port=0, framing="rtu") as site:
        status = await _run(
            [
                "probe",
                "--family",
                "sdm630",
                "--url",
                f"rtu-over-tcp://127.0.0.1:{site.port}",
            ]
        )
    assert status == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Eastron SDM630, serial {SIM_SERIAL}")
    assert "grid_power " in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--url", "tcp://127.0.0.1:{closed}"],
            "eo: cannot connect to tcp://127.0.0.1:",
        ),
        (["--url", "ftp://x"], "eo: unknown scheme 'ftp'"),
        (
            ["--url", "tcp://127.0.0.1:{port}", "--unit", "42", "--timeout", "0.3"],
            "eo: unit 42 on tcp://",
        ),
        (
            ["--url", "tcp://127.0.0.1:{port}", "--unit", "300"],
            "eo: --unit 300 is outside 1-247, the addresses of Eastron SDM630",
        ),
        # The commonest slip: an address without its scheme.
        (
            ["--url", "127.0.0.1:{port}"],
            "eo: 127.0.0.1:{port} needs a scheme; accepted: tcp://HOST:PORT",
        ),
    ],
)
async def test_probe_failures_are_one_line_and_status_1(
    site: SimulatedSite,
    closed_port: int,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    args = [a.format(closed=closed_port, port=site.port) for a in args]
    status = await _run(["probe", "--family", "sdm630", *args])
    captured = capsys.readouterr()
    assert status == 1
    assert captured.out == ""
    assert captured.err.startswith(message.format(port=site.port))
    assert captured.err.count("\n") == 1


def test_eo_entry_point_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "eo_lab", "probe", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "--family {" in result.stdout
    assert all(family in result.stdout for family in FAMILIES)


async def test_probe_serial_inverter_as_table(
    site: SimulatedSite, capsys: pytest.CaptureFixture[str]
) -> None:
    """A text value (the inverter's mode) prints in the table like a number."""
    from eo_lab.sim.devices.voltronic import (
        serve_voltronic,
    )

    async with serve_voltronic("127.0.0.1", 0, site.site, sync=site.sync) as inverter:
        status = await _run(
            [
                "probe",
                "--family",
                "voltronic_pi30",
                "--url",
                inverter.url,
                "--baudrate",
                "2400",
            ]
        )
    assert status == 0
    lines = capsys.readouterr().out.splitlines()
    mode = next(line for line in lines if line.strip().startswith("inverter_mode"))
    assert mode.split()[1] in {"grid", "battery", "standby"}


async def test_probe_takes_the_family_s_address_and_speed(
    site: SimulatedSite, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Pylontech stack answers at 2 and 115200 baud: no --unit, no --baudrate."""
    from eo_lab.sim.devices.bms import EMULATORS

    async with EMULATORS["pylontech"](
        site.site, sync=site.sync, host="127.0.0.1", port=0
    ) as stack:
        status = await _run(["probe", "--family", "pylontech", "--url", stack.url])
    assert status == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == f"Pylontech US2KBPL, serial EOSIMPYL0001 at {stack.url} unit 2"


async def test_probe_a_battery_on_a_can_bus(
    site: SimulatedSite, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through its slcan adapter behind "ser2net": --interface and the channel."""
    from eo_lab.sim.devices.bms import EMULATORS

    async with EMULATORS["pylontech_can"](
        site.site, sync=site.sync, host="127.0.0.1", port=0
    ) as battery:
        status = await _run(
            [
                "probe",
                "--family",
                "pylontech_can",
                "--interface",
                "slcan",
                "--url",
                battery.url,
                "--json",
            ]
        )
    assert status == 0
    result = json.loads(capsys.readouterr().out)
    assert result["identity"]["manufacturer"] == "Pylontech"
    assert result["readings"]["battery_alarm"] == {"value": "none", "unit": ""}
    assert result["readings"]["battery_soc"]["unit"] == "%"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--host", "tcp://127.0.0.1"],
            "eo: --host takes a host name or IP address, not 'tcp://127.0.0.1';",
        ),
        (
            ["--host", "127.0.0.1:5020"],
            "eo: --host takes a host name or IP address, not '127.0.0.1:5020';",
        ),
        (
            ["--port", "65530"],
            "eo: --port 65530 cannot serve 9 devices on consecutive ports;"
            " give 0 (free ports) or 1-65527",
        ),
        (["--port", "-1"], "eo: --port -1 cannot serve 9 devices"),
        (["--initial-soc", "120"], "eo: --initial-soc must be 0-100 (%)"),
        (
            ["--port", "0", "--gateways", "3"],
            "eo: --port 0 cannot serve 3 devices on consecutive ports; give 1-65533",
        ),
    ],
)
async def test_simulate_refuses_what_it_cannot_serve(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    status = await _run(["simulate", *args])
    captured = capsys.readouterr()
    assert status == 1
    assert captured.err.startswith(message)
    assert captured.err.count("\n") == 1
