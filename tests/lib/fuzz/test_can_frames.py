"""The Pylontech CAN frames, fuzzed: any bytes under any frame id give values
or a ``BadResponseError``, nothing else; encoded frames decode to themselves."""

import math

from hypothesis import strategies as st

from custom_components.energy_orchestrator.lib.drivers.bms import (
    pylontech_can_protocol as protocol,
)
from custom_components.energy_orchestrator.lib.drivers.bms.pylontech_can import (
    frame_values,
)
from custom_components.energy_orchestrator.lib.drivers.errors import BadResponseError
from tests.fuzzing import fuzz

# A CAN frame carries at most 8 bytes; a broken adapter may hand over more.
PAYLOADS = st.binary(min_size=0, max_size=12)


def test_any_payload_under_any_frame_gives_values_or_a_typed_error(
    examples: int,
) -> None:
    """What a bus delivers never raises anything but BadResponseError."""

    def check(frame_id: protocol.FrameId, data: bytes) -> None:
        try:
            values = frame_values(frame_id, data)
        except BadResponseError:
            return
        for value in values.values():
            assert value is None or isinstance(value, str) or math.isfinite(value)

    fuzz(examples, check, st.sampled_from(list(protocol.FrameId)), PAYLOADS)


def test_the_name_frame_takes_any_bytes(examples: int) -> None:
    """0x35E is free text: any bytes give a name or a BadResponseError."""

    def check(data: bytes) -> None:
        try:
            assert isinstance(protocol.parse_name(data), str)
        except BadResponseError:
            return

    fuzz(examples, check, PAYLOADS)


def test_limits_round_trip(examples: int) -> None:
    """Limits the protocol can carry are decoded as they were encoded."""

    def check(data: bytes) -> None:
        try:
            limits = protocol.parse_limits(data)
        except BadResponseError:
            return
        assert protocol.parse_limits(protocol.encode_limits(limits)) == limits

    fuzz(examples, check, st.binary(min_size=8, max_size=8))
