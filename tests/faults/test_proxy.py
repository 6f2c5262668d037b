"""The fault proxy, between the real driver link and the simulated site."""

from collections.abc import AsyncIterator

import pytest

from custom_components.energy_orchestrator.lib.drivers.eastron import SDM630_POINTS
from custom_components.energy_orchestrator.lib.drivers.errors import (
    BadResponseError,
    DeviceError,
    DeviceRejectedError,
    DeviceSilentError,
    IllegalAddressError,
    LinkError,
)
from custom_components.energy_orchestrator.lib.drivers.registers import RegisterTable
from custom_components.energy_orchestrator.lib.drivers.transport.endpoint import (
    parse_endpoint,
)
from custom_components.energy_orchestrator.lib.drivers.transport.modbus import (
    ModbusLink,
)
from eo_lab.faults.proxy import Fault, FaultProxy, rewrite_point
from eo_lab.sim.simulated_site import SimulatedSite

pytestmark = pytest.mark.usefixtures("socket_enabled")

IMPORT = next(p for p in SDM630_POINTS if p.key == "grid_import_energy")
SERIAL = 0xFC00


@pytest.fixture
async def proxy(site: SimulatedSite) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(site.port) as running:
        yield running


@pytest.fixture
async def link(proxy: FaultProxy) -> AsyncIterator[ModbusLink]:
    link = ModbusLink.standalone(
        parse_endpoint(f"tcp://127.0.0.1:{proxy.port}"), timeout=0.3
    )
    yield link
    await link.close()


async def _import_wh(link: ModbusLink) -> float | None:
    words = await link.read_registers(1, RegisterTable.INPUT, IMPORT.address, 2)
    return IMPORT.decode(words)


async def test_forwards_faithfully(link: ModbusLink, site: SimulatedSite) -> None:
    assert await _import_wh(link) == pytest.approx(
        site.site.grid_import_energy_wh, abs=1
    )


@pytest.mark.parametrize(
    ("fault", "code", "error"),
    [
        (Fault.STALL, 4, DeviceSilentError),
        pytest.param(Fault.BLACKHOLE, 4, DeviceSilentError, marks=pytest.mark.slow),
        pytest.param(Fault.EXCEPTION, 4, DeviceRejectedError, marks=pytest.mark.slow),
        (Fault.EXCEPTION, 2, IllegalAddressError),
        pytest.param(Fault.EXCEPTION, 11, DeviceSilentError, marks=pytest.mark.slow),
        pytest.param(Fault.DROP, 4, LinkError, marks=pytest.mark.slow),
        (Fault.REFUSE, 4, LinkError),
    ],
)
async def test_each_fault_fails_the_read_and_heals(
    link: ModbusLink,
    proxy: FaultProxy,
    fault: Fault,
    code: int,
    error: type[DeviceError],
) -> None:
    assert await _import_wh(link) is not None
    await proxy.inject(fault, code=code)
    with pytest.raises(error):
        await _import_wh(link)
    await proxy.heal()
    # The link reconnects on the next request after a loss.
    for _ in range(3):
        try:
            assert await _import_wh(link) is not None
            break
        except DeviceError:
            continue
    else:
        pytest.fail(f"no answer after {fault} healed")


async def test_garbage_and_truncated_answers_fail_the_read(
    link: ModbusLink, proxy: FaultProxy
) -> None:
    for fault in (Fault.GARBAGE, Fault.TRUNCATE):
        await proxy.inject(fault)
        with pytest.raises((BadResponseError, DeviceSilentError, LinkError)):
            await _import_wh(link)
    await proxy.heal()


async def test_a_fault_limited_to_units_spares_the_others(
    link: ModbusLink, proxy: FaultProxy
) -> None:
    await proxy.inject(Fault.EXCEPTION, code=4, units={2})
    assert await _import_wh(link) is not None
    await proxy.inject(Fault.EXCEPTION, code=4, units={1})
    with pytest.raises(DeviceRejectedError):
        await _import_wh(link)
    with pytest.raises(ValueError, match="whole connection"):
        await proxy.inject(Fault.DROP, units={1})


@pytest.mark.slow
async def test_slow_answers_arrive_late_or_time_out(
    link: ModbusLink, proxy: FaultProxy
) -> None:
    await proxy.inject(Fault.SLOW, delay_s=0.1)
    assert await _import_wh(link) is not None
    await proxy.inject(Fault.SLOW, delay_s=1.0)
    with pytest.raises(DeviceSilentError):
        await _import_wh(link)


async def test_a_rewritten_counter_spikes_where_the_answer_covers_it(
    link: ModbusLink, proxy: FaultProxy, site: SimulatedSite
) -> None:
    await proxy.inject(Fault.REWRITE, rewrite=rewrite_point(IMPORT, lambda: 5e7))
    assert await _import_wh(link) == pytest.approx(5e7)
    # A read of other registers is left alone.
    serial = await link.read_registers(1, RegisterTable.HOLDING, SERIAL, 2)
    assert (serial[0] << 16) | serial[1] == 63000001
    await proxy.heal()
    assert await _import_wh(link) == pytest.approx(
        site.site.grid_import_energy_wh, abs=1
    )


@pytest.mark.parametrize("reconnect", [False, True])
async def test_swap_sends_the_next_request_to_another_device(
    link: ModbusLink, proxy: FaultProxy, reconnect: bool
) -> None:
    assert await _import_wh(link) is not None
    async with SimulatedSite(port=0, grid_meter_serial=11111111) as other:
        await proxy.swap_to(other.port, reconnect=reconnect)
        words: list[int] | None = None
        for _ in range(2):  # after a reconnect, the first request may fail
            try:
                words = await link.read_registers(1, RegisterTable.HOLDING, SERIAL, 2)
                break
            except LinkError:
                continue
        assert words is not None
        assert (words[0] << 16) | words[1] == 11111111
        assert proxy.connections == (2 if reconnect else 1)
