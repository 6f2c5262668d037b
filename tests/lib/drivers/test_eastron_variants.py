"""SDM120 and SDM72 drivers: register tables as Eastron's, and family checks."""

import csv
from pathlib import Path

import pytest

from custom_components.energy_orchestrator.lib.drivers.eastron import (
    SDM630,
    SDM630_POINTS,
)
from custom_components.energy_orchestrator.lib.drivers.eastron_variants import (
    SDM72,
    SDM72_INPUT_REGISTERS,
    SDM72_POINTS,
    SDM120,
    SDM120_INPUT_REGISTERS,
    SDM120_POINTS,
)
from custom_components.energy_orchestrator.lib.drivers.errors import WrongDeviceError
from custom_components.energy_orchestrator.lib.drivers.registers import Point
from custom_components.energy_orchestrator.lib.drivers.transport.endpoint import (
    parse_endpoint,
)
from custom_components.energy_orchestrator.lib.drivers.transport.modbus import (
    ModbusLink,
)
from custom_components.energy_orchestrator.lib.drivers.values import QUANTITIES
from eo_lab.sim.devices.eastron import SDM630Emulator
from eo_lab.sim.devices.eastron_variants import (
    EastronEmulator,
    single_phase_values,
)
from eo_lab.sim.profiles import bundled_profile
from eo_lab.sim.servers import serve_devices
from eo_lab.sim.simulated_site import default_battery
from eo_lab.sim.site import Site
from tests.lib.drivers.resolution import reported

TABLE = Path(__file__).parents[2] / "fixtures" / "eastron"
START = 1_750_000_000.0


def _model_registers(column: str) -> set[int]:
    """Return the input registers reaper7's table gives a model."""
    with (TABLE / "reaper7_SDM_h_input_registers_by_model.csv").open() as file:
        return {
            int(row["pdu_address_dec"]) for row in csv.DictReader(file) if row[column]
        }


def _link(port: int) -> ModbusLink:
    return ModbusLink.standalone(parse_endpoint(f"tcp://127.0.0.1:{port}"), timeout=0.5)


def _values(points: tuple[Point, ...]) -> dict[str, float]:
    values = {p.key: 230.0 for p in points} | {"frequency": 50.0}
    return values | {k: 0.97 for k in values if "power_factor" in k}


@pytest.mark.parametrize(
    ("column", "registers", "points"),
    [
        ("SDM120", SDM120_INPUT_REGISTERS, SDM120_POINTS),
        ("SDM72 V2", SDM72_INPUT_REGISTERS, SDM72_POINTS),
    ],
)
def test_register_tables_are_reaper7s(
    column: str, registers: tuple[int, ...], points: tuple[Point, ...]
) -> None:
    assert set(registers) == _model_registers(column)
    assert len(set(registers)) == len(registers)
    assert {p.address for p in points} <= set(registers)
    assert all(p.key in QUANTITIES for p in points)


def test_sdm120_lacks_what_tells_three_phases() -> None:
    sdm120 = _model_registers("SDM120")
    assert {0x0002, 0x00C8, 0x0500} & sdm120 == set()
    assert {0x0002, 0x00C8, 0x0500} <= _model_registers("SDM72 V2")
    assert 0x0500 not in _model_registers("SDM630")
    # The SDM72 reads the SDM630's points but for the per-phase counters.
    missing = {p.key for p in SDM630_POINTS} - {p.key for p in SDM72_POINTS}
    assert missing == {
        f"grid_{way}_energy_l{phase}"
        for way in ("import", "export")
        for phase in (1, 2, 3)
    }


async def test_sdm120_reads_one_phase_of_the_site() -> None:
    site = Site(bundled_profile(), default_battery(), start_time=START)
    site.advance_to(START + 600)
    meter = EastronEmulator("SDM120", 12000001, lambda: single_phase_values(site, 2))
    async with serve_devices("127.0.0.1", 0, {3: meter.sim_device(3)}) as server:
        link = _link(server.port)
        driver = SDM120(link, 3)
        identity = await driver.async_identify()
        assert (identity.model, identity.serial_number) == ("SDM120", "12000001")
        readings = await driver.async_read()
        truth = single_phase_values(site, 2)
        assert set(readings) == {p.key for p in SDM120_POINTS}
        for key, reading in readings.items():
            assert reading.value == reported(key, truth[key], rel=1e-6), key
        assert driver.planner.holes == set()
        await link.close()


async def test_sdm72_reads_the_site() -> None:
    site = Site(bundled_profile(), default_battery(), start_time=START)
    site.advance_to(START + 600)
    meter = EastronEmulator("SDM72", 72000001, site.grid_meter_values)
    async with serve_devices("127.0.0.1", 0, {1: meter.sim_device(1)}) as server:
        link = _link(server.port)
        driver = SDM72(link, 1)
        identity = await driver.async_identify()
        assert (identity.model, identity.serial_number) == ("SDM72D-M V2", "72000001")
        readings = await driver.async_read()
        truth = site.grid_meter_values()
        assert set(readings) == {p.key for p in SDM72_POINTS}
        for key, reading in readings.items():
            assert reading.value == reported(key, truth[key], rel=1e-6), key
        assert driver.planner.holes == set()
        await link.close()


@pytest.mark.parametrize(
    ("driver", "device", "message"),
    [
        (SDM120, "SDM630", "reads an L2 voltage of 230 V: it is a three-phase"),
        (SDM120, "SDM72", "three-phase meter"),
        (SDM120, "SDM630 on one phase", "reads an L1-L2 voltage of 230 V"),
        (SDM72, "SDM120", "no L2 voltage register"),
        (SDM72, "SDM630", "no import-power register"),
        (SDM630, "SDM120", "lacks registers every SDM630 has"),
    ],
)
async def test_each_family_refuses_the_others(
    driver: type[SDM630], device: str, message: str
) -> None:
    emulators = {
        "SDM630": SDM630Emulator(63000009, lambda: _values(SDM630_POINTS)),
        "SDM630 on one phase": SDM630Emulator(
            63000010,
            lambda: (
                _values(SDM630_POINTS) | {"ac_voltage_l2": 0.0, "ac_voltage_l3": 0.0}
            ),
        ),
        "SDM72": EastronEmulator("SDM72", 72000009, lambda: _values(SDM72_POINTS)),
        "SDM120": EastronEmulator("SDM120", 12000009, lambda: _values(SDM120_POINTS)),
    }
    emulator = emulators[device]
    async with serve_devices("127.0.0.1", 0, {1: emulator.sim_device(1)}) as server:
        link = _link(server.port)
        with pytest.raises(WrongDeviceError, match=message):
            await driver(link, 1).async_identify()
        await link.close()


async def test_a_clone_answering_zeros_still_passes_as_sdm120() -> None:
    """Registers a meter lacks may read 0 instead of failing: not a phase."""
    values = _values(SDM120_POINTS)
    meter = EastronEmulator("SDM120", 12000011, lambda: values)
    meter.input_ranges = ((0x0000, 0x0050), (0x00C8, 0x00D0), (0x0156, 0x015A))
    async with serve_devices("127.0.0.1", 0, {1: meter.sim_device(1)}) as server:
        link = _link(server.port)
        identity = await SDM120(link, 1).async_identify()
        assert identity.serial_number == "12000011"
        await link.close()


async def test_garbage_is_no_sdm120() -> None:
    values = {p.key: 1e9 for p in SDM120_POINTS}
    meter = EastronEmulator("SDM120", 12000012, lambda: values)
    async with serve_devices("127.0.0.1", 0, {1: meter.sim_device(1)}) as server:
        link = _link(server.port)
        with pytest.raises(WrongDeviceError, match="values no SDM120 reads"):
            await SDM120(link, 1).async_identify()
        await link.close()
