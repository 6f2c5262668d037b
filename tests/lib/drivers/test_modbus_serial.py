"""Modbus RTU on a serial port (here ser2net's socket://), through modbus-connection."""

from collections.abc import AsyncIterator
import time

from pymodbus.simulator import DataType, SimData, SimDevice
import pytest

from custom_components.energy_orchestrator.lib.drivers.eastron import (
    SDM630,
    SDM630_POINTS,
)
from custom_components.energy_orchestrator.lib.drivers.errors import (
    DeviceSilentError,
    IllegalAddressError,
    LinkError,
)
from custom_components.energy_orchestrator.lib.drivers.registers import (
    RegisterTable,
)
from custom_components.energy_orchestrator.lib.drivers.transport.endpoint import (
    parse_endpoint,
)
from custom_components.energy_orchestrator.lib.drivers.transport.modbus import (
    RS485_SPACING,
    ModbusLink,
)
from eo_lab.sim.devices.eastron import SDM630Emulator
from eo_lab.sim.servers import serve_devices
from tests.conftest import StartPeer

pytestmark = pytest.mark.usefixtures("socket_enabled")


@pytest.fixture
async def bus() -> AsyncIterator[str]:
    """A meter (unit 1) and a register bank (unit 7) behind ser2net; the URL."""
    values = {p.key: 230.0 for p in SDM630_POINTS} | {"frequency": 50.0}
    meter = SDM630Emulator(63000007, lambda: values)
    bank = SimDevice(id=7, simdata=[SimData(100, count=10, datatype=DataType.UINT16)])
    async with serve_devices(
        "127.0.0.1", 0, {1: meter.device, 7: bank}, framing="rtu"
    ) as server:
        yield f"socket://127.0.0.1:{server.port}"


def _link(url: str, timeout: float = 0.5) -> ModbusLink:
    return ModbusLink.standalone(parse_endpoint(url, baudrate=9600), timeout=timeout)


async def test_a_meter_is_read_and_its_link_counted(bus: str) -> None:
    link = _link(bus)
    driver = SDM630(link, 1)
    assert (await driver.async_identify()).serial_number == "63000007"
    readings = await driver.async_read()
    assert readings["ac_voltage_l1"].value == pytest.approx(230.0)
    assert link.connected
    assert link.stats.connects == 1
    assert link.stats.requests >= 2
    # Each request and answer went over the wire with its CRC.
    assert link.stats.bytes_sent == 8 * link.stats.requests
    assert link.stats.bytes_received > link.stats.bytes_sent
    await link.close()
    assert not link.connected


async def test_registers_are_written_and_read_back(bus: str) -> None:
    link = _link(bus)
    await link.write_registers(7, 100, [1, 2, 3])
    assert await link.read_registers(7, RegisterTable.HOLDING, 100, 3) == [1, 2, 3]
    await link.close()


async def test_an_illegal_address_is_told_apart(bus: str) -> None:
    link = _link(bus)
    with pytest.raises(IllegalAddressError):
        await link.read_registers(7, RegisterTable.HOLDING, 500, 2)
    assert link.stats.failures == 1
    await link.close()


async def test_a_silent_unit(bus: str) -> None:
    link = _link(bus, timeout=0.3)
    with pytest.raises(DeviceSilentError, match=r"unit 9 .* did not answer"):
        await link.read_registers(9, RegisterTable.HOLDING, 0, 1)
    # The bus still serves the others.
    assert await link.read_registers(7, RegisterTable.HOLDING, 100, 1) == [0]
    await link.close()


async def test_an_answer_from_another_unit_is_not_taken(
    serial_peers: StartPeer,
) -> None:
    """Unit 2's answer to a read of one register (value 5), whoever is asked.

    It is not unit 1's answer, so unit 1 stays silent.
    """
    other = bytes.fromhex("02 03 02 0005 3C47")
    peer = await serial_peers(lambda b: 8 if len(b) >= 8 else None, lambda _: other)
    link = _link(peer.url)
    with pytest.raises(DeviceSilentError, match="unit 1 "):
        await link.read_registers(1, RegisterTable.HOLDING, 0, 1)
    await link.close()


async def test_a_port_that_does_not_open(closed_port: int) -> None:
    link = _link(f"socket://127.0.0.1:{closed_port}")
    with pytest.raises(LinkError, match="cannot connect to socket://"):
        await link.read_registers(1, RegisterTable.HOLDING, 0, 1)
    assert not link.connected


async def test_requests_on_rs485_are_spaced(bus: str) -> None:
    """The connection keeps the bus quiet around each request, as RS485 needs."""
    link = _link(bus)
    await link.read_registers(7, RegisterTable.HOLDING, 100, 1)
    start = time.monotonic()
    for _ in range(5):
        await link.read_registers(7, RegisterTable.HOLDING, 100, 1)
    assert time.monotonic() - start >= 5 * RS485_SPACING
    await link.close()
