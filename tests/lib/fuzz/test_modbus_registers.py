"""Modbus register decoding, fuzzed: points, readings, SunSpec, the wallbox, the GX.

Any registers decode to a finite value or to "absent", never to an
exception, an infinity or NaN; encoding a value and decoding it gives it
back; a SunSpec chain of any registers is walked or refused with a driver
error.
"""

import asyncio
from collections.abc import Sequence
import math

from hypothesis import strategies as st

from custom_components.energy_orchestrator.lib.drivers.errors import (
    DeviceError,
    IllegalAddressError,
)
from custom_components.energy_orchestrator.lib.drivers.registers import (
    POINT_TYPES,
    RegisterTable,
    WordOrder,
    make_point,
)
from custom_components.energy_orchestrator.lib.drivers.sunspec.chain import (
    walk_chain,
)
from custom_components.energy_orchestrator.lib.drivers.sunspec.codec import (
    decode_model,
    decode_point,
    encode_point,
    not_implemented_raw,
)
from custom_components.energy_orchestrator.lib.drivers.sunspec.definitions import (
    PointDef,
    known_models,
    model_definition,
)
from custom_components.energy_orchestrator.lib.drivers.values import (
    QUANTITIES,
    make_reading,
)
from custom_components.energy_orchestrator.lib.drivers.victron.table import (
    decode_firmware,
    decode_string,
    encode_string,
)
from custom_components.energy_orchestrator.lib.drivers.wallbox import (
    STATUS_BLOCK,
    decode_text,
    settings_of,
)
from tests.fuzzing import fuzz

WORDS = st.integers(0, 0xFFFF)
SCALES = st.sampled_from([1.0, 0.1, 0.01, 0.001, 10.0, 1000.0, -1.0, 1e-6, 1e6])
NUMBERS = (
    st.floats()
    | st.integers(-(2**70), 2**70)
    | st.sampled_from([1e308, -1e308, 5e-324])
)


def test_a_point_decodes_any_registers_to_a_finite_value_or_absent(
    examples: int,
) -> None:
    """No type, word order, scale or register content gives anything but a number or None."""

    def check(
        type_name: str,
        order: WordOrder,
        scale: float,
        marker: int | None,
        data: st.DataObject,
    ) -> None:
        point = make_point(
            "x",
            RegisterTable.HOLDING,
            0,
            type_name,
            scale=scale,
            word_order=order,
            not_implemented=marker,
        )
        words = data.draw(st.lists(WORDS, min_size=point.count, max_size=point.count))
        value = point.decode(words)
        assert value is None or math.isfinite(value)

    fuzz(
        examples * 2,
        check,
        st.sampled_from(sorted(POINT_TYPES)),
        st.sampled_from(list(WordOrder)),
        SCALES,
        st.none() | st.sampled_from([0, 0xFFFF, 0x8000, 0xFFFFFFFF, 0x7FFFFFFF]),
        st.data(),
    )


def test_a_point_gives_back_what_it_encoded(examples: int) -> None:
    """Encoding a value the type holds and decoding it gives the value back."""

    def check(type_name: str, order: WordOrder, data: st.DataObject) -> None:
        point = make_point("x", RegisterTable.HOLDING, 0, type_name, word_order=order)
        bits = 16 * point.count
        # Values are floats: a 64-bit count is exact up to 2**53.
        exact = min(bits - 1, 53)
        if type_name.startswith("float"):
            width = 32 if type_name == "float32" else 64
            value: float = data.draw(
                st.floats(allow_nan=False, allow_infinity=False, width=width)
            )
        elif type_name.startswith("u"):
            value = data.draw(st.integers(0, min(2**bits - 1, 2**53)))
        else:
            value = data.draw(st.integers(-(2**exact), 2**exact - 1))
        assert point.decode(point.encode(value)) == value

    fuzz(
        examples * 2,
        check,
        st.sampled_from(sorted(POINT_TYPES)),
        st.sampled_from(list(WordOrder)),
        st.data(),
    )


def test_a_point_saturates_what_it_cannot_hold(examples: int) -> None:
    """Any number encodes without an error: beyond the type's range, at its limit."""

    def check(type_name: str, value: float) -> None:
        point = make_point("x", RegisterTable.HOLDING, 0, type_name)
        words = point.encode(value)
        assert len(words) == point.count
        assert all(0 <= word <= 0xFFFF for word in words)

    fuzz(
        examples,
        check,
        st.sampled_from(sorted(POINT_TYPES)),
        st.floats(-1e30, 1e30)
        | st.sampled_from([2.0**64 - 1, 2.0**63, -(2.0**63) - 4096]),
    )


def test_any_value_makes_a_sound_reading_or_none(examples: int) -> None:
    """A value of any kind for any key gives a finite reading in range, or None."""

    def check(key: str, value: float | str) -> None:
        reading = make_reading(key, value, 0.0)
        if reading is None:
            return
        quantity = QUANTITIES[key]
        if quantity.options is not None:
            assert reading.value in quantity.options
        else:
            assert isinstance(reading.value, int | float)
            assert math.isfinite(reading.value)
            assert quantity.valid_min <= reading.value <= quantity.valid_max

    options = st.sampled_from(
        sorted({o for q in QUANTITIES.values() for o in q.options or ()})
    )
    fuzz(
        examples * 4,
        check,
        st.sampled_from(sorted(QUANTITIES)),
        NUMBERS | options | st.text(max_size=6),
    )


# SunSpec

MODELS = sorted(known_models())
SUNSPEC_TYPES = [
    "int16",
    "int32",
    "int64",
    "uint16",
    "uint32",
    "uint64",
    "acc16",
    "acc32",
    "acc64",
    "enum16",
    "enum32",
    "bitfield16",
    "bitfield32",
    "count",
    "sunssf",
    "float32",
    "float64",
    "string",
]


def test_a_sunspec_model_decodes_from_any_registers(examples: int) -> None:
    """Any registers, as long or short as they come, decode to finite values or absent."""

    def check(model_id: int, words: Sequence[int]) -> None:
        definition = model_definition(model_id)
        assert definition is not None
        stack = [decode_model(definition, words)]
        while stack:
            group = stack.pop()
            for value in group.values.values():
                assert value is None or isinstance(value, str) or math.isfinite(value)
            for instances in group.groups.values():
                stack.extend(instances)

    fuzz(
        examples * 2,
        check,
        st.sampled_from(MODELS),
        st.lists(WORDS | st.sampled_from([0x8000, 0xFFFF, 0x7FFF]), max_size=400),
    )


def test_a_sunspec_point_gives_back_what_it_encoded(examples: int) -> None:
    """Every SunSpec type encodes a raw value it holds and decodes it back."""

    def check(point_type: str, data: st.DataObject) -> None:
        size = {"16": 1, "32": 2, "64": 4}.get(point_type[-2:], 1)
        if point_type == "string":
            size = data.draw(st.integers(1, 16))
        point = PointDef("x", point_type, size, 0)
        bits = 16 * size
        marker = not_implemented_raw(point_type, size)
        raw: object
        if point_type == "string":
            alphabet = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
            raw = data.draw(st.text(alphabet, min_size=1, max_size=2 * size))
        elif point_type.startswith("float"):
            width = 32 if point_type == "float32" else 64
            raw = data.draw(
                st.floats(allow_nan=False, allow_infinity=False, width=width)
            )
        elif point_type == "sunssf":
            raw = data.draw(st.integers(-10, 10))
        elif point_type in {"int16", "int32", "int64"}:
            raw = data.draw(st.integers(-(2 ** (bits - 1)) + 1, 2 ** (bits - 1) - 1))
        else:
            low = 1 if point_type.startswith("acc") else 0
            raw = data.draw(st.integers(low, 2**bits - 1).filter(lambda v: v != marker))
        assert decode_point(point, encode_point(point, raw)) == raw

    fuzz(examples * 2, check, st.sampled_from(SUNSPEC_TYPES), st.data())


def test_a_sunspec_chain_of_any_registers_is_walked_or_refused(examples: int) -> None:
    """A chain of any headers ends, within the register space, or raises a driver error."""

    def check(headers: dict[int, int], end_refused: bool) -> None:
        async def read(address: int, count: int) -> list[int]:
            if end_refused and address not in headers:
                raise IllegalAddressError(2, f"no register at {address}")
            return [headers.get(address + i, 0) for i in range(count)]

        try:
            blocks = asyncio.run(walk_chain(read, 40000))
        except DeviceError:
            return
        for block in blocks:
            assert block.address >= 0
            assert block.end <= 0x10000

    fuzz(
        examples,
        check,
        st.dictionaries(
            st.integers(40000, 0xFFFF),
            WORDS | st.sampled_from([0xFFFF, 1, 101, 103]),
            max_size=30,
        ),
        st.booleans(),
    )


# Alfen wallbox and Victron GX


def test_any_wallbox_status_block_gives_sound_settings(examples: int) -> None:
    """The socket's status block, whatever it holds, gives finite settings."""

    def check(status: list[int]) -> None:
        for value in settings_of(status).values():
            assert isinstance(value, str) or math.isfinite(value)

    fuzz(
        examples,
        check,
        st.lists(
            WORDS | st.sampled_from([0xFFFF, 0x7FC0, 0x7F80]),
            min_size=STATUS_BLOCK[1],
            max_size=STATUS_BLOCK[1],
        ),
    )


def test_any_text_registers_decode(examples: int) -> None:
    """Wallbox and GX text registers decode any words; the GX's strings round-trip."""

    def check(words: list[int], text: str) -> None:
        assert "\0" not in decode_text(words)
        assert "\0" not in decode_string(words)
        high, low = ([*words, 0, 0])[:2]
        version = decode_firmware(high, low)
        assert version is None or version.startswith("v")
        registers = encode_string(text, 8)
        assert len(registers) == 8
        assert decode_string(registers) == text[:16]

    latin = st.text(st.characters(min_codepoint=1, max_codepoint=0xFF), max_size=16)
    fuzz(examples, check, st.lists(WORDS, max_size=12), latin)


def test_a_64_bit_count_at_its_top_encodes_saturated() -> None:
    """Found by the fuzzer: 2**64 - 1 became the float 2**64, which struct refused."""
    point = make_point("x", RegisterTable.HOLDING, 0, "uint64")
    assert point.encode(2**64 - 1) == [0xFFFF] * 4
    assert make_point("x", RegisterTable.HOLDING, 0, "int64").encode(2**63) == [
        0x7FFF,
        0xFFFF,
        0xFFFF,
        0xFFFF,
    ]
