"""What the BMS drivers share: a bounds-checked byte reader and a serial driver.

A BMS answers with binary records whose layout depends on counts inside them
(cells, temperature sensors, packs). Reading them through ``ByteReader``
turns every overrun into a ``BadResponseError``, so a parser fed garbage
fails the one way the layers above understand, never with an IndexError.
"""

from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict
import struct
import time
from typing import ClassVar

from ..base import MAIN, Driver, Poll
from ..errors import BadResponseError
from ..transport.serial_link import SerialLink
from ..values import sub_device_key


class ByteReader:
    """Reads fields one after the other from a record, never past its end."""

    def __init__(self, data: bytes, what: str) -> None:
        """Start at the first byte of ``data``; ``what`` names it in errors."""
        self.data = data
        self.what = what
        self.offset = 0

    @property
    def remaining(self) -> int:
        """Return how many bytes are left to read."""
        return len(self.data) - self.offset

    def take(self, count: int) -> bytes:
        """Return the next ``count`` bytes."""
        if count < 0 or count > self.remaining:
            raise BadResponseError(
                f"{self.what}: needs {count} more bytes at offset {self.offset},"
                f" has {self.remaining}"
            )
        chunk = self.data[self.offset : self.offset + count]
        self.offset += count
        return chunk

    def u8(self) -> int:
        """Return the next byte."""
        return self.take(1)[0]

    def u16(self) -> int:
        """Return the next unsigned 16-bit big-endian integer."""
        value: int = struct.unpack(">H", self.take(2))[0]
        return value

    def i16(self) -> int:
        """Return the next signed 16-bit big-endian integer."""
        value: int = struct.unpack(">h", self.take(2))[0]
        return value

    def u24(self) -> int:
        """Return the next unsigned 24-bit big-endian integer."""
        return int.from_bytes(self.take(3), "big")

    def u32(self) -> int:
        """Return the next unsigned 32-bit big-endian integer."""
        value: int = struct.unpack(">I", self.take(4))[0]
        return value

    def end(self) -> None:
        """Raise unless every byte was read: a longer record is another layout."""
        if self.remaining:
            raise BadResponseError(
                f"{self.what}: {self.remaining} unexpected bytes after offset"
                f" {self.offset}"
            )


def ascii_field(raw: bytes) -> str:
    """Return a NUL- or space-padded ASCII field as text, without padding."""
    return raw.split(b"\x00", 1)[0].decode("ascii", "replace").strip()


class SerialBmsDriver(Driver):
    """A BMS reached through a shared raw ``SerialLink`` at a bus address.

    ``unit`` is the family's address on the RS485 bus (a Pylontech pack's
    ADR, a JK PB's Modbus address, a Daly board's address).
    """

    link: SerialLink
    # The keys a family reports for each of its sub-devices (packs).
    sub_device_keys: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        link: SerialLink,
        unit: int,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """Bind the driver to an address on a serial link."""
        super().__init__(wall_clock=wall_clock)
        if not 0 <= unit <= 0xFF:
            raise ValueError(f"address {unit} is not a bus address (0..255)")
        self.link = link
        self.unit = unit

    def available_keys(self) -> set[str]:
        """Return the device's keys and those of every sub-device found."""
        keys = set(self.keys)
        for sub in self.sub_devices:
            keys.update(sub_device_key(sub.key, key) for key in self.sub_device_keys)
        return keys

    def _put(
        self,
        poll: Poll,
        part: str,
        values: Mapping[str, float | None],
    ) -> None:
        """Record values of a part: every key attempted, the valid ones read."""
        for key, value in values.items():
            full_key = key if part == MAIN else sub_device_key(part, key)
            poll.attempted.add(full_key)
            if (reading := self._reading(full_key, value)) is not None:
                poll.readings[full_key] = reading

    def _attempt(self, poll: Poll, part: str, keys: Collection[str]) -> None:
        """Mark keys of a part as attempted though nothing came back for them."""
        poll.attempted.update(
            key if part == MAIN else sub_device_key(part, key) for key in keys
        )

    def diagnostics(self) -> Mapping[str, object]:
        """Return the address, the link and its counters."""
        return {
            "unit": self.unit,
            "link": str(self.link.endpoint),
            "link_stats": asdict(self.link.stats),
        }
