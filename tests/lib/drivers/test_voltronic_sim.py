"""The simulated PI30 inverter, read and commanded by the driver over a socket."""

from collections.abc import Mapping
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from custom_components.energy_orchestrator.lib.drivers.base import execute
from custom_components.energy_orchestrator.lib.drivers.cadence import ALL_CADENCES
from custom_components.energy_orchestrator.lib.drivers.commands import (
    Command,
    CommandKind,
)
from custom_components.energy_orchestrator.lib.drivers.errors import (
    DeviceRejectedError,
    DeviceSilentError,
)
from custom_components.energy_orchestrator.lib.drivers.transport.endpoint import (
    parse_endpoint,
)
from custom_components.energy_orchestrator.lib.drivers.transport.serial_link import (
    SerialLink,
)
from custom_components.energy_orchestrator.lib.drivers.values import Reading
from custom_components.energy_orchestrator.lib.drivers.voltronic import VoltronicPI30
from custom_components.energy_orchestrator.lib.drivers.voltronic.codec import (
    decode_response,
    encode_request,
)
from eo_lab.sim.devices.voltronic import (
    VoltronicEmulator,
    serve_voltronic,
)
from eo_lab.sim.simulated_site import SimulatedSite
from eo_lab.sim.site import Site

NOON = datetime(2024, 6, 21, 12, tzinfo=UTC).timestamp()
NIGHT = datetime(2024, 6, 21, 22, tzinfo=UTC).timestamp()


@pytest.fixture(autouse=True)
def no_pause_after_close(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip pyserial's 0.3 s pause after closing a socket:// port."""
    monkeypatch.setattr(
        "serial.urlhandler.protocol_socket.time", SimpleNamespace(sleep=lambda _: None)
    )


def _site(start: float) -> Site:
    """Return a site two minutes after ``start``, standing still."""
    site = SimulatedSite(start_time=start).site
    site.advance_to(start + 120)
    return site


def _numbers(readings: Mapping[str, Reading]) -> dict[str, float]:
    """Return the numeric readings' values."""
    return {
        key: reading.value
        for key, reading in readings.items()
        if isinstance(reading.value, float)
    }


def _driver(inverter: VoltronicEmulator, timeout: float = 0.5) -> VoltronicPI30:
    link = SerialLink(parse_endpoint(inverter.url, baudrate=2400), timeout=timeout)
    return VoltronicPI30(link, 0)


async def test_the_emulator_reports_the_site() -> None:
    site = _site(NOON)
    async with serve_voltronic("127.0.0.1", 0, site) as inverter:
        assert inverter.port
        driver = _driver(inverter)
        identity = await driver.async_identify()
        assert (identity.model, identity.serial_number, identity.firmware) == (
            "EOSIM-5000",
            "92932105105335",
            "00072.70",
        )
        poll = await driver.async_poll(ALL_CADENCES)
        await driver.link.close()
    values = _numbers(poll.readings)
    battery = site.battery
    assert values["battery_voltage"] == pytest.approx(
        battery.terminal_voltage, abs=0.01
    )
    assert values["battery_current"] == round(battery.measured_current)
    assert values["battery_current"] > 0  # charging from PV at noon
    assert values["battery_soc"] == round(battery.soc * 100)
    assert values["pv_power"] == round(site.pv_w)
    assert values["pv_current"] == pytest.approx(site.pv_w / values["pv_voltage"], 0.01)
    assert values["ac_output_power"] == round(site.load_w)
    assert values["ac_input_voltage"] == pytest.approx(site.phase_voltages()[0], 0.01)
    assert poll.readings["inverter_mode"].value == "grid"
    assert values["battery_charge_voltage_limit"] == 56.4
    assert values["battery_discharge_voltage_limit"] == 44.0
    assert set(poll.readings) == driver.available_keys()
    assert inverter.description.startswith("Voltronic PI30 inverter EOSIM-5000")


async def test_at_night_the_battery_carries_the_load() -> None:
    site = _site(NIGHT)
    async with VoltronicEmulator(site) as inverter:
        driver = _driver(inverter)
        await driver.async_identify()
        poll = await driver.async_poll(ALL_CADENCES)
        values = _numbers(poll.readings)
        # Utility first keeps the loads on the grid, battery or not.
        await execute(driver, Command(CommandKind.OUTPUT_SOURCE_PRIORITY, "utility"))
        line = (await driver.async_poll(ALL_CADENCES)).readings["inverter_mode"]
        await driver.link.close()
    assert values["battery_current"] < 0
    assert values["battery_power"] < 0
    assert values["pv_power"] == 0.0
    assert values["pv_current"] == 0.0
    assert poll.readings["inverter_mode"].value == "battery"
    assert line.value == "grid"


@pytest.mark.parametrize(
    ("kind", "value", "setting", "stored"),
    [
        (CommandKind.OUTPUT_SOURCE_PRIORITY, "solar", "output_source_priority", 1),
        (
            CommandKind.CHARGER_SOURCE_PRIORITY,
            "solar_only",
            "charger_source_priority",
            3,
        ),
        (CommandKind.BATTERY_CHARGE_CURRENT, 100.0, "max_charging_current", 100),
        (CommandKind.BATTERY_CUTOFF_VOLTAGE, 46.5, "cutoff_voltage", 46.5),
        (CommandKind.BATTERY_BULK_VOLTAGE, 55.2, "bulk_voltage", 55.2),
        (CommandKind.BATTERY_FLOAT_VOLTAGE, 53.6, "float_voltage", 53.6),
    ],
)
async def test_every_command_is_taken_and_read_back(
    kind: CommandKind, value: float | str, setting: str, stored: float
) -> None:
    async with VoltronicEmulator(_site(NOON)) as inverter:
        driver = _driver(inverter)
        await driver.async_identify()
        assert await execute(driver, Command(kind, value)) == value
        await driver.link.close()
    assert getattr(inverter.settings, setting) == stored


async def test_values_the_inverter_cannot_take_are_refused() -> None:
    async with VoltronicEmulator(_site(NOON)) as inverter:
        driver = _driver(inverter)
        await driver.async_identify()
        # Past the spec's limits, straight to the driver: the inverter says NAK.
        with pytest.raises(DeviceRejectedError, match=r"refused PSDV38.0 \(NAK\)"):
            await driver.async_apply(Command(CommandKind.BATTERY_CUTOFF_VOLTAGE, 38.0))
        assert inverter.settings.cutoff_voltage == 44.0
        # An older firmware without MNCHGC still takes MCHGC below 100 A.
        inverter.knows_mnchgc = False
        command = Command(CommandKind.BATTERY_CHARGE_CURRENT, 40.0)
        assert await execute(driver, command) == 40.0
        with pytest.raises(DeviceRejectedError, match="MNCHGC0110"):
            await execute(driver, Command(CommandKind.BATTERY_CHARGE_CURRENT, 110.0))
        await driver.link.close()
    assert inverter.commands.count("MCHGC040") == 1


async def test_a_fault_refusals_and_silence() -> None:
    async with VoltronicEmulator(_site(NOON)) as inverter:
        inverter.refused = {"QPIRI"}
        driver = _driver(inverter, timeout=0.2)
        identity = await driver.async_identify()
        assert identity.model == "EOSIM-5000"
        assert driver.commands == {}
        inverter.fault = True
        poll = await driver.async_poll(ALL_CADENCES)
        assert poll.readings["inverter_mode"].value == "fault"
        assert "battery_charge_voltage_limit" not in poll.attempted
        inverter.silent = True
        with pytest.raises(DeviceSilentError):
            await driver.async_poll(ALL_CADENCES)
        await driver.link.close()


def test_the_emulator_takes_requests_with_or_without_crc() -> None:
    inverter = VoltronicEmulator(_site(NOON))
    assert decode_response(inverter.answer(encode_request("QPI"))) == "PI30"
    assert decode_response(inverter.answer(b"QID\r")) == "92932105105335"
    with pytest.raises(DeviceRejectedError):
        decode_response(inverter.answer(b"QXYZ\r"))
    with pytest.raises(DeviceRejectedError):
        decode_response(inverter.answer(b"\xff\xfe\r"))
