"""The raw serial protocols' frames and decoders, fuzzed from real captures.

For each protocol (Voltronic PI30, Pylontech, JK PB, Daly): any bytes give
a frame or a ``BadResponseError``; a captured frame with a byte changed is
refused; encoding then decoding gives the frame back; and, the part random
bytes never reach, a captured answer whose content is changed and whose
checksum is made right again reaches the decoders behind the frame, which
give values or a ``BadResponseError``, nothing else.
"""

from collections.abc import Callable
import contextlib
import math
from typing import Any

from hypothesis import strategies as st
import pytest

from custom_components.energy_orchestrator.lib.drivers.bms import (
    daly_protocol as daly,
    jk_protocol as jk,
    pylontech_protocol as pylontech,
)
from custom_components.energy_orchestrator.lib.drivers.errors import (
    BadResponseError,
    DeviceRejectedError,
)
from custom_components.energy_orchestrator.lib.drivers.voltronic import (
    codec as voltronic,
)
from tests.fuzzing import fuzz
from tests.lib.drivers.test_daly import CAPTURED as DALY_CAPTURED
from tests.lib.drivers.test_jk import PB_ANSWERS
from tests.lib.drivers.test_pylontech import (
    PARSERS as PYLONTECH_PARSERS,
    VALID_FRAMES as PYLONTECH_FRAMES,
)
from tests.lib.drivers.test_voltronic import (
    CAPTURED_FRAMES as VOLTRONIC_FRAMES,
    PARSERS as VOLTRONIC_PARSERS,
)

type Change = dict[int, int]


def _changed(raw: bytes, changes: Change) -> bytes:
    """Return ``raw`` with the bytes at some offsets (modulo its length) replaced."""
    data = bytearray(raw)
    for offset, byte in changes.items():
        data[offset % len(data)] = byte
    return bytes(data)


CHANGES = st.dictionaries(
    st.integers(0, 10_000), st.integers(0, 255), min_size=1, max_size=6
)


def _finite(value: Any) -> None:
    """Assert that every number in a decoded value is finite."""
    if isinstance(value, float):
        assert math.isfinite(value)
    elif isinstance(value, list | tuple):
        for item in value:
            _finite(item)
    elif isinstance(value, dict):
        for item in value.values():
            _finite(item)
    elif hasattr(value, "__dataclass_fields__"):
        for name in value.__dataclass_fields__:
            _finite(getattr(value, name))


def _decodes_or_says_why(parse: Callable[[Any], object], data: Any) -> None:
    """Decode, allowing only a BadResponseError; what decodes is finite."""
    with contextlib.suppress(BadResponseError):
        _finite(parse(data))


# Voltronic PI30


VOLTRONIC_PAYLOADS = [
    frame[1:-3].decode("ascii")
    for frame in VOLTRONIC_FRAMES
    # A few captures are echoed requests, or NAKs.
    if frame.startswith(voltronic.START) and frame[1:-3].isascii()
]
# Field texts inverters send, and ones they should not.
FIELD_TEXTS = st.sampled_from(
    [
        "",
        "0",
        "-",
        "---.-",
        "--",
        "00110110",
        "1" * 40,
        "9" * 30,
        "1e400",
        "nan",
        "inf",
        "-0",
        "+",
        ".",
        "0.",
        "NAK",
        "(",
        "A",
    ]
) | st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=8)


def test_voltronic_any_bytes_decode_or_are_refused(examples: int) -> None:
    """A frame decodes to ASCII carrying its CRC, or is refused (NAK included)."""

    def check(raw: bytes) -> None:
        try:
            payload = voltronic.decode_response(raw)
        except BadResponseError, DeviceRejectedError:
            return
        assert raw[-3:-1] == voltronic.pi_crc(raw[:-3])
        assert payload.isascii()

    fuzz(examples, check, st.binary(max_size=160))


def test_voltronic_payloads_round_trip(examples: int) -> None:
    """Every printable payload but NAK goes through its frame unchanged."""

    def check(payload: str) -> None:
        frame = voltronic.encode_response(payload)
        assert voltronic.frame_end(frame) == len(frame)
        assert voltronic.decode_response(frame) == payload

    printable = st.text(
        st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=160
    )
    fuzz(examples, check, printable.filter(lambda text: text != voltronic.NAK))


def test_voltronic_changed_captures_reach_every_decoder(examples: int) -> None:
    """A captured answer with fields changed, framed anew, decodes or says why."""

    def check(
        payload: str, changes: dict[int, str], parse: Callable[[str], object]
    ) -> None:
        fields = payload.split(" ")
        for index, text in changes.items():
            fields[index % len(fields)] = text
        changed = " ".join(fields)
        framed = voltronic.encode_response(changed)
        with contextlib.suppress(DeviceRejectedError):
            _decodes_or_says_why(parse, voltronic.decode_response(framed))

    fuzz(
        examples * 4,
        check,
        st.sampled_from(VOLTRONIC_PAYLOADS),
        st.dictionaries(st.integers(0, 40), FIELD_TEXTS, max_size=4),
        st.sampled_from(VOLTRONIC_PARSERS),
    )


# Pylontech


def test_pylontech_any_bytes_decode_or_are_refused(examples: int) -> None:
    """Any bytes, and any captured frame with a byte changed, decode or are refused."""

    def check(raw: bytes) -> None:
        with contextlib.suppress(BadResponseError):
            pylontech.decode_frame(raw)

    fuzz(
        examples,
        check,
        st.binary(max_size=300)
        | st.builds(_changed, st.sampled_from(PYLONTECH_FRAMES), CHANGES),
    )


def test_pylontech_frames_round_trip(examples: int) -> None:
    """Encoding a frame and decoding it gives the frame back."""

    def check(frame: pylontech.Frame) -> None:
        assert pylontech.decode_frame(pylontech.encode_frame(frame)) == frame

    byte = st.integers(0, 255)
    fuzz(
        examples,
        check,
        st.builds(pylontech.Frame, byte, byte, byte, byte, st.binary(max_size=200)),
    )


def test_pylontech_changed_captures_reach_every_decoder(examples: int) -> None:
    """A captured INFO with bytes changed, cut or extended decodes or says why."""

    def check(
        raw: bytes,
        changes: Change,
        cut: int,
        tail: bytes,
        parse: Callable[[bytes], object],
    ) -> None:
        info = pylontech.decode_frame(raw).info
        if info:
            info = _changed(info, changes)
        _decodes_or_says_why(parse, info[: len(info) - cut] + tail)

    fuzz(
        examples * 4,
        check,
        st.sampled_from(PYLONTECH_FRAMES),
        CHANGES,
        st.integers(0, 8),
        st.binary(max_size=8),
        st.sampled_from(PYLONTECH_PARSERS),
    )


# JK PB


def test_jk_any_bytes_decode_or_are_refused(examples: int) -> None:
    """Any bytes, and any captured answer with a byte changed, decode or are refused."""

    def check(raw: bytes, record: jk.Record) -> None:
        with contextlib.suppress(BadResponseError):
            jk.decode_answer(raw, 1, record)

    answers = st.sampled_from(list(PB_ANSWERS.values()))
    fuzz(
        examples,
        check,
        st.binary(max_size=400) | st.builds(_changed, answers, CHANGES),
        st.sampled_from(list(jk.Record)),
    )


def test_jk_records_round_trip(examples: int) -> None:
    """A record built from any payload checks out as the type it was built as."""

    def check(record_type: jk.Record, counter: int, payload: bytes) -> None:
        record = jk.encode_record(record_type, counter, payload)
        assert jk.check_record(record, record_type) == record

    fuzz(
        examples,
        check,
        st.sampled_from(list(jk.Record)),
        st.integers(0, 255),
        st.binary(max_size=jk.RECORD_LENGTH - 7),
    )


JK_PARSERS: dict[jk.Record, Callable[[bytes], object]] = {
    jk.Record.CELL_DATA: jk.parse_cell_data,
    jk.Record.DEVICE_INFO: jk.parse_device_info,
    jk.Record.SETTINGS: jk.parse_settings,
}


def test_jk_changed_captures_reach_every_decoder(examples: int) -> None:
    """A captured record with bytes changed, checksummed anew, decodes or says why."""

    def check(record_type: jk.Record, changes: Change) -> None:
        record = PB_ANSWERS[record_type][: jk.RECORD_LENGTH]
        payload = _changed(record[6:-1], changes)
        changed = jk.check_record(jk.encode_record(record_type, record[5], payload))
        _decodes_or_says_why(JK_PARSERS[record_type], changed)

    fuzz(
        examples * 4,
        check,
        st.sampled_from(sorted(set(PB_ANSWERS) & set(JK_PARSERS))),
        CHANGES,
    )


# Daly


DALY_FRAMES = [
    bytes.fromhex(entry["raw_hex"])
    for entry in DALY_CAPTURED
    if len(entry["raw_hex"]) % (2 * daly.FRAME_LENGTH) == 0
]
DALY_PARSERS: dict[daly.DataId, Callable[[bytes], object]] = {
    daly.DataId.SOC: daly.parse_soc,
    daly.DataId.CELL_VOLTAGE_RANGE: daly.parse_cell_voltage_range,
    daly.DataId.TEMPERATURE_RANGE: daly.parse_temperature_range,
    daly.DataId.MOS_STATUS: daly.parse_mos_status,
    daly.DataId.STATUS: daly.parse_status,
}
DALY_MULTI_PARSERS: dict[daly.DataId, Callable[[list[bytes]], object]] = {
    daly.DataId.CELL_VOLTAGES: daly.parse_cell_voltages,
    daly.DataId.CELL_TEMPERATURES: daly.parse_cell_temperatures,
}


def test_daly_any_bytes_split_or_are_refused(examples: int) -> None:
    """Any bytes, and captured frames with a byte changed, split into frames or are refused."""

    def check(raw: bytes, data_id: daly.DataId, frames: int) -> None:
        with contextlib.suppress(BadResponseError):
            split = daly.split_frames(raw, 1, data_id, frames)
            assert len(split) == frames

    fuzz(
        examples,
        check,
        st.binary(max_size=80)
        | st.builds(_changed, st.sampled_from(DALY_FRAMES), CHANGES),
        st.sampled_from(list(daly.DataId)),
        st.integers(1, 6),
    )


def test_daly_frames_round_trip(examples: int) -> None:
    """A frame built from any data decodes to that data."""

    def check(address: int, data_id: int, data: bytes) -> None:
        frame = daly.encode_frame(address, data_id, data)
        assert daly.decode_frame(frame, address, data_id) == data

    fuzz(
        examples,
        check,
        st.integers(0, 255),
        st.integers(0, 255),
        st.binary(min_size=daly.DATA_LENGTH, max_size=daly.DATA_LENGTH),
    )


def test_daly_any_data_reaches_every_decoder(examples: int) -> None:
    """Any eight data bytes, and any run of frames, decode or say why."""

    def check(data_id: daly.DataId, frames: list[bytes]) -> None:
        if data_id in DALY_MULTI_PARSERS:
            _decodes_or_says_why(DALY_MULTI_PARSERS[data_id], frames)
        else:
            _decodes_or_says_why(DALY_PARSERS[data_id], frames[0])

    data = st.binary(min_size=daly.DATA_LENGTH, max_size=daly.DATA_LENGTH)
    fuzz(
        examples * 2,
        check,
        st.sampled_from(sorted({*DALY_PARSERS, *DALY_MULTI_PARSERS})),
        st.lists(data, min_size=1, max_size=12),
    )


@pytest.mark.parametrize("frames", [DALY_FRAMES])
def test_the_daly_captures_are_whole_frames(frames: list[bytes]) -> None:
    """The fuzzers start from real frames, all of them intact."""
    assert len(frames) >= 10
    for raw in frames:
        daly.decode_frame(raw[: daly.FRAME_LENGTH], raw[1], raw[2])
