"""What the simulator's fleet answers each driver, recorded once for the fuzzers.

Every family of ``eo simulate`` is served as the lab serves it, its driver
identifies, polls and reads back its settings, and every answer is kept:
Modbus registers by unit, table and address; serial answers by request.
The fuzzers then answer from these recordings, changed as hypothesis picks,
so they get past identification and into the decoders behind it.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
import contextlib
from dataclasses import dataclass, field
import functools

from custom_components.energy_orchestrator.lib.drivers.base import Driver
from custom_components.energy_orchestrator.lib.drivers.cadence import ALL_CADENCES
from custom_components.energy_orchestrator.lib.drivers.commands import Command
from custom_components.energy_orchestrator.lib.drivers.errors import DeviceError
from custom_components.energy_orchestrator.lib.drivers.families import (
    FAMILIES,
    Protocol,
    build_driver,
)
from custom_components.energy_orchestrator.lib.drivers.registers import (
    RegisterTable,
)
from custom_components.energy_orchestrator.lib.drivers.transport.endpoint import (
    parse_endpoint,
)
from custom_components.energy_orchestrator.lib.drivers.transport.pool import LinkPool
from custom_components.energy_orchestrator.lib.drivers.transport.serial_link import (
    FrameEnd,
)
from eo_lab.sim.fleet import serve_fleet
from eo_lab.sim.simulated_site import SimulatedSite

type RegisterKey = tuple[int, RegisterTable, int]


@dataclass
class Recording:
    """What one device answered: its registers, or its answers by request."""

    family: str
    unit: int
    registers: dict[RegisterKey, int] = field(default_factory=dict)
    answers: dict[bytes, bytes] = field(default_factory=dict)


async def session(driver: Driver) -> None:
    """Identify, poll twice, check the serial number, read back every setting.

    Driver errors end the step they happen in, nothing else: the fuzzers
    call it with answers that make every step fail.
    """
    try:
        await driver.async_identify()
    except DeviceError:
        return
    for _ in range(2):
        with contextlib.suppress(DeviceError):
            await driver.async_poll(ALL_CADENCES)
    with contextlib.suppress(DeviceError):
        await driver.async_read_serial_number()
    for kind in list(driver.commands):
        with contextlib.suppress(DeviceError):
            await driver.async_read_back(Command(kind, 0))


def _record_modbus(
    recording: Recording, read: Callable[..., Awaitable[list[int]]]
) -> Callable[..., Awaitable[list[int]]]:
    """Wrap a link's register read so that it keeps every answer."""

    async def recorded(
        unit: int, table: RegisterTable, address: int, count: int
    ) -> list[int]:
        words = await read(unit, table, address, count)
        for offset, word in enumerate(words):
            recording.registers[unit, table, address + offset] = word
        return words

    return recorded


def _record_serial(
    recording: Recording, transact: Callable[..., Awaitable[bytes]]
) -> Callable[..., Awaitable[bytes]]:
    """Wrap a link's exchange so that it keeps every answer."""

    async def recorded(
        request: bytes, frame_end: FrameEnd, *, answer_within: float | None = None
    ) -> bytes:
        answer = await transact(request, frame_end, answer_within=answer_within)
        recording.answers[request] = answer
        return answer

    return recorded


async def _record() -> dict[str, Recording]:
    """Serve the fleet and record one driver session per family."""
    recordings: dict[str, Recording] = {}
    pool = LinkPool(timeout=1.0)
    async with (
        SimulatedSite(host="127.0.0.1", port=0) as site,
        serve_fleet(site, 0) as served,
    ):
        for device in served:
            family = FAMILIES[device.family]
            # A CAN battery's frames are fuzzed on their own (test_can_frames.py).
            if device.family in recordings or family.protocol is Protocol.CAN:
                continue
            endpoint = parse_endpoint(device.url, baudrate=family.default_baudrate)
            driver = build_driver(pool, family, endpoint, device.unit)
            recording = Recording(device.family, device.unit)
            link = driver.link
            if family.protocol is Protocol.MODBUS:
                link.read_registers = _record_modbus(recording, link.read_registers)
            else:
                link.transact = _record_serial(recording, link.transact)
            try:
                await session(driver)
            finally:
                await pool.release(link)
            recordings[device.family] = recording
    return recordings


@functools.cache
def recordings() -> dict[str, Recording]:
    """Return the fleet's recordings (recorded on first use, once per process)."""
    return asyncio.run(_record())


def families(protocol: Protocol) -> Sequence[str]:
    """Return the recorded families speaking a protocol, sorted."""
    return sorted(
        family
        for family in FAMILIES
        if FAMILIES[family].protocol is protocol
        and not FAMILIES[family].needs_register_map
    )
