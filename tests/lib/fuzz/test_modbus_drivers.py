"""Every Modbus driver, fed any registers a device may answer: only driver errors.

A fuzzed link answers each request the way hypothesis picks: the registers
the simulator's device answered (``recorded``), or the real SMA Sunny Boy's
dump, the same with a few words changed, random words, or an error answer.
Identification, polls, the serial-number check and every command's
read-back must then end in readings or a ``DeviceError``, and every reading
must be finite and within its quantity's range.
"""

import asyncio
from collections.abc import Callable, Mapping
import math
from pathlib import Path
from typing import cast

from hypothesis import strategies as st
import pytest

from custom_components.energy_orchestrator.lib.drivers.base import Driver, Poll
from custom_components.energy_orchestrator.lib.drivers.errors import (
    BadResponseError,
    DeviceRejectedError,
    DeviceSilentError,
    IllegalAddressError,
)
from custom_components.energy_orchestrator.lib.drivers.families import (
    FAMILIES,
    Protocol,
)
from custom_components.energy_orchestrator.lib.drivers.generic import (
    GenericModbus,
    load_register_map,
)
from custom_components.energy_orchestrator.lib.drivers.registers import (
    RegisterTable,
)
from custom_components.energy_orchestrator.lib.drivers.sunspec import SunSpecDriver
from custom_components.energy_orchestrator.lib.drivers.transport.modbus import (
    ModbusLink,
)
from custom_components.energy_orchestrator.lib.drivers.values import quantity_of
from eo_lab.sim.devices.sunspec import parse_register_dump
from tests.fuzzing import fuzz

from .recorded import RegisterKey, families, recordings, session

FIXTURES = Path(__file__).parents[2] / "fixtures"
SMA_DUMP = parse_register_dump(
    (
        FIXTURES / "sunspec" / "nielsbasjes_SMA_SunnyBoy3.6_2023-08-10_holding40000.txt"
    ).read_text()
)
SMA_IMAGE: dict[RegisterKey, int] = {
    (1, RegisterTable.HOLDING, 40000 + offset): word
    for offset, word in enumerate(SMA_DUMP)
    if word is not None
}
GENERIC_MAP = load_register_map(FIXTURES / "generic" / "sdm630_map.json")

WORDS = st.integers(0, 0xFFFF)
# Words devices answer more often than chance would: zero, "not
# implemented" markers, NaN halves, the SunSpec marker and end of chain.
SPECIAL_WORDS = st.sampled_from(
    [0, 1, 0xFFFF, 0xFFFE, 0x8000, 0x7FFF, 0x7FC0, 0x7F80, 0x5375, 0x6E53]
)
ANY_WORD = WORDS | SPECIAL_WORDS
FAULTS = st.sampled_from(
    ["changed", "random", "refused", "rejected", "silent", "garbled"]
)
# How often a device answers other than its image: rarely, so that the
# session gets past identification, or often.
FAULT_PERCENT = st.sampled_from([3, 10, 40])


class FuzzedLink:
    """A Modbus link whose answers hypothesis picks, around an image of the device."""

    def __init__(self, data: st.DataObject, image: Mapping[RegisterKey, int]) -> None:
        """Answer from ``image`` unless hypothesis picks otherwise."""
        self.data = data
        self.image = image
        self.fault_percent = data.draw(FAULT_PERCENT)

    async def read_registers(
        self, unit: int, table: RegisterTable, address: int, count: int
    ) -> list[int]:
        """Answer a read as hypothesis picks."""
        keys = [(unit, table, address + offset) for offset in range(count)]
        answer = "image"
        if self.data.draw(st.integers(0, 99)) < self.fault_percent:
            answer = self.data.draw(FAULTS)
        if answer == "image" and all(key in self.image for key in keys):
            return [self.image[key] for key in keys]
        if answer in {"image", "refused"}:
            raise IllegalAddressError(2, f"no register at {address}")
        if answer == "rejected":
            raise DeviceRejectedError(4, "device failure")
        if answer == "silent":
            raise DeviceSilentError("no answer")
        if answer == "garbled":
            raise BadResponseError("not an answer")
        if answer == "random":
            return self.data.draw(st.lists(ANY_WORD, min_size=count, max_size=count))
        changes = self.data.draw(
            st.dictionaries(st.integers(0, count - 1), ANY_WORD, min_size=1, max_size=4)
        )
        return [changes.get(i, self.image.get(key, 0)) for i, key in enumerate(keys)]

    async def write_registers(self, unit: int, address: int, values: list[int]) -> None:
        """Take any write."""


def _readings_are_sound(poll: Poll) -> None:
    """Every reading is a finite number in its quantity's range, or an option."""
    for key, reading in poll.readings.items():
        quantity = quantity_of(key)
        if isinstance(reading.value, str):
            assert quantity.options is not None, key
            assert reading.value in quantity.options, key
        else:
            assert math.isfinite(reading.value), key
            assert quantity.valid_min <= reading.value <= quantity.valid_max, key


class CheckedPolls:
    """A driver whose every poll's readings are checked for soundness."""

    def __init__(self, driver: Driver) -> None:
        """Wrap the driver's poll."""
        poll = driver.async_poll

        async def checked(*args: object) -> Poll:
            result = await poll(*args)  # type: ignore[arg-type]
            _readings_are_sound(result)
            return result

        driver.async_poll = checked  # type: ignore[method-assign]


def _build(family: str, link: ModbusLink, unit: int) -> Driver:
    """Return the family's driver on the link."""
    if family == "generic":
        return GenericModbus(link, unit, GENERIC_MAP)
    build = FAMILIES[family].build_modbus
    assert build is not None
    return build(link, unit)


def _run(
    driver_of: Callable[[ModbusLink], Driver],
    image: Mapping[RegisterKey, int],
    data: st.DataObject,
) -> None:
    """Run one driver session over a fuzzed link; only driver errors end a step."""
    driver = driver_of(cast(ModbusLink, FuzzedLink(data, image)))
    CheckedPolls(driver)
    asyncio.run(session(driver))


MODBUS_FAMILIES = [*families(Protocol.MODBUS), "generic"]


@pytest.mark.parametrize("family", MODBUS_FAMILIES)
def test_a_modbus_driver_takes_any_answer(family: str, examples: int) -> None:
    """No answer its device gives makes a driver raise anything but a DeviceError."""
    source = "sdm630" if family == "generic" else family
    recording = recordings()[source]

    def check(data: st.DataObject) -> None:
        _run(
            lambda link: _build(family, link, recording.unit), recording.registers, data
        )

    fuzz(examples, check, st.data())


def test_the_sunspec_driver_takes_any_change_to_a_real_map(examples: int) -> None:
    """The real SMA map with any words changed identifies and polls, or says why."""

    def check(changes: dict[RegisterKey, int], data: st.DataObject) -> None:
        _run(lambda link: SunSpecDriver(link, 1), {**SMA_IMAGE, **changes}, data)

    fuzz(
        examples,
        check,
        st.dictionaries(st.sampled_from(sorted(SMA_IMAGE)), ANY_WORD, max_size=12),
        st.data(),
    )


def test_the_recordings_reach_every_family() -> None:
    """The fuzzers start from real answers: each family identified and read."""
    recorded = recordings()
    assert set(MODBUS_FAMILIES) - {"generic"} <= set(recorded)
    for family in MODBUS_FAMILIES[:-1]:
        assert len(recorded[family].registers) >= 8, family
