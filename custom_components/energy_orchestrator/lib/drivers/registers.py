"""Register maps and read planning for Modbus devices.

A driver describes what it reads as ``Point`` objects; ``make_point`` builds
one from a type name, 64-bit ones included. The ``ReadPlanner`` merges them
into as few requests as the device allows and learns, from the device's own
"illegal data address" answers, which registers are not there.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum, IntEnum
import math
import struct

from .cadence import Cadence


class RegisterTable(IntEnum):
    """The Modbus register table a point lives in, as its read function code."""

    HOLDING = 3
    INPUT = 4


class DataType(Enum):
    """How a point's registers encode its value."""

    UINT16 = ("H", 1)
    INT16 = ("h", 1)
    UINT32 = ("I", 2)
    INT32 = ("i", 2)
    FLOAT32 = ("f", 2)
    UINT64 = ("Q", 4)

    def __init__(self, struct_format: str, registers: int) -> None:
        """Keep the struct format and the number of registers."""
        self.struct_format = struct_format
        self.registers = registers


class WordOrder(Enum):
    """Which 16-bit register of a multi-register value comes first."""

    BIG = "big"  # most significant register first
    LITTLE = "little"


@dataclass(frozen=True, slots=True)
class Point:
    """One value a device exposes in its registers.

    ``scale`` converts the raw number into the canonical unit (an Eastron
    meter counts kWh, the value model counts Wh: scale 1000). ``not_implemented``
    is the raw value a device uses to say "I do not have this" (SunSpec's
    0x8000), which decodes as absent.
    """

    key: str
    table: RegisterTable
    address: int
    data_type: DataType
    scale: float = 1.0
    word_order: WordOrder = WordOrder.BIG
    not_implemented: int | None = None
    cadence: Cadence = Cadence.FAST

    @property
    def count(self) -> int:
        """Return how many registers the point takes."""
        return self.data_type.registers

    @property
    def end(self) -> int:
        """Return the address just past the point."""
        return self.address + self.count

    def decode(self, registers: Sequence[int]) -> float | None:
        """Return the value in canonical units, or None when it is absent."""
        words = list(registers)
        if self.word_order is WordOrder.LITTLE:
            words.reverse()
        raw_bytes = b"".join(word.to_bytes(2, "big") for word in words)
        raw_int = int.from_bytes(raw_bytes, "big")
        if self.not_implemented is not None and raw_int == self.not_implemented:
            return None
        (raw,) = struct.unpack(">" + self.data_type.struct_format, raw_bytes)
        value = float(raw)
        if not math.isfinite(value):
            return None
        return scaled(value, self.scale)

    def encode(self, value: float) -> list[int]:
        """Return the registers that decode to ``value`` (for simulators)."""
        raw: float | int = value / self.scale
        if self.data_type is not DataType.FLOAT32:
            raw = saturated(round(raw), self.data_type.struct_format)
        raw_bytes = struct.pack(">" + self.data_type.struct_format, raw)
        words = [
            int.from_bytes(raw_bytes[index : index + 2], "big")
            for index in range(0, len(raw_bytes), 2)
        ]
        if self.word_order is WordOrder.LITTLE:
            words.reverse()
        return words


@dataclass(frozen=True, slots=True)
class Point64(Point):
    """A 64-bit float or signed integer point, which ``DataType`` lacks.

    ``data_type`` is UINT64 for the register count; ``struct_format`` says
    how the eight bytes decode (``"d"`` float64, ``"q"`` int64).
    """

    struct_format: str = "d"

    def decode(self, registers: Sequence[int]) -> float | None:
        """Return the value in canonical units, or None when it is absent."""
        raw_bytes = self._bytes(registers)
        raw_int = int.from_bytes(raw_bytes, "big")
        if self.not_implemented is not None and raw_int == self.not_implemented:
            return None
        (raw,) = struct.unpack(">" + self.struct_format, raw_bytes)
        value = float(raw)
        if not math.isfinite(value):
            return None
        return scaled(value, self.scale)

    def encode(self, value: float) -> list[int]:
        """Return the registers that decode to ``value`` (for simulators)."""
        raw: float | int = value / self.scale
        if self.struct_format != "d":
            raw = saturated(round(raw), self.struct_format)
        raw_bytes = struct.pack(">" + self.struct_format, raw)
        words = [int.from_bytes(raw_bytes[i : i + 2], "big") for i in range(0, 8, 2)]
        if self.word_order is WordOrder.LITTLE:
            words.reverse()
        return words

    def _bytes(self, registers: Sequence[int]) -> bytes:
        """Return the eight bytes, most significant first."""
        words = list(registers)
        if self.word_order is WordOrder.LITTLE:
            words.reverse()
        return b"".join(word.to_bytes(2, "big") for word in words)


def saturated(raw: int, struct_format: str) -> int:
    """Return ``raw`` held within what an integer struct format can pack.

    A 64-bit count near its top is a float on the way in (2**64 - 1 rounds
    up to 2**64), which the format cannot hold: it saturates instead.
    """
    bits = 8 * struct.calcsize(struct_format)
    if struct_format.islower():
        return min(max(raw, -(1 << (bits - 1))), (1 << (bits - 1)) - 1)
    return min(max(raw, 0), (1 << bits) - 1)


def scaled(value: float, scale: float) -> float:
    """Return ``value * scale``, the nearest float to the decimal for 0.1, 0.01...

    2301 * 0.1 is 230.10000000000002; 2301 / 10 is 230.1.
    """
    if 0 < abs(scale) < 1 and (divisor := 1 / scale).is_integer():
        return value / divisor
    return value * scale


# Point types by the names register maps use: (DataType for the register
# count, struct format of a 64-bit one, which DataType lacks).
POINT_TYPES: Mapping[str, tuple[DataType, str | None]] = {
    "int16": (DataType.INT16, None),
    "uint16": (DataType.UINT16, None),
    "int32": (DataType.INT32, None),
    "uint32": (DataType.UINT32, None),
    "float32": (DataType.FLOAT32, None),
    "int64": (DataType.UINT64, "q"),
    "uint64": (DataType.UINT64, None),
    "float64": (DataType.UINT64, "d"),
}


def make_point(
    key: str,
    table: RegisterTable,
    address: int,
    type_name: str,
    *,
    scale: float = 1.0,
    word_order: WordOrder = WordOrder.BIG,
    not_implemented: int | None = None,
    cadence: Cadence = Cadence.FAST,
) -> Point:
    """Return a point of any type a register map may name (64-bit ones too)."""
    data_type, wide_format = POINT_TYPES[type_name]
    if wide_format is None:
        return Point(
            key, table, address, data_type, scale, word_order, not_implemented, cadence
        )
    return Point64(
        key,
        table,
        address,
        data_type,
        scale,
        word_order,
        not_implemented,
        cadence,
        wide_format,
    )


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One request: a run of registers covering one or more points."""

    table: RegisterTable
    address: int
    count: int
    points: tuple[Point, ...]

    def values(self, registers: Sequence[int]) -> dict[str, float | None]:
        """Decode every point of the block from the registers read."""
        return {
            point.key: point.decode(
                registers[point.address - self.address : point.end - self.address]
            )
            for point in self.points
        }


# A point refused while the device answers the rest is a hole once refused
# this many times over this long: longer than a device takes to reboot.
HOLE_AFTER_REFUSALS = 3
HOLE_AFTER_S = 60.0


@dataclass(slots=True)
class ReadPlanner:
    """Merges points into few requests, and learns the holes of a device.

    ``max_registers`` is what the device takes in one request (125 is the
    Modbus limit; an Eastron meter takes 80). ``max_gap`` is how many
    unwanted registers a merged request may read across to save a request.
    A point whose own read fails with "illegal data address" is a hole: it is
    left out of every later plan, and no request reads across it. While
    polling, a refusal is only a suspicion (a device rebooting or an inverter
    asleep refuses every address for a while): a suspect is read on its own,
    and becomes a hole only once the device answered the rest of the poll and
    kept refusing the point ``HOLE_AFTER_REFUSALS`` times over
    ``HOLE_AFTER_S``. Where a merged request fails but its two halves read
    fine, the gap between them is the culprit: that address becomes a break
    no later request spans.
    """

    points: Sequence[Point]
    max_registers: int = 125
    max_gap: int = 16
    holes: set[str] = field(default_factory=set)
    breaks: set[int] = field(default_factory=set)
    # Points refused while the rest answered: key -> (first refused at, times).
    suspects: dict[str, tuple[float, int]] = field(default_factory=dict)
    _plan: list[ReadBlock] | None = field(default=None, init=False, repr=False)

    def plan(self) -> list[ReadBlock]:
        """Return the requests that read every point not known to be a hole."""
        if self._plan is None:
            self._plan = self._build()
        return self._plan

    def mark_hole(self, point: Point) -> None:
        """Remember that the device has no register behind a point."""
        self.holes.add(point.key)
        self._plan = None

    def note_refused(self, point: Point, at: float) -> None:
        """Note that the device refused a point alone while answering others.

        The point is read on its own from now on; it becomes a hole once the
        refusals went on long enough to not be a passing state of the device.
        """
        first, times = self.suspects.get(point.key, (at, 0))
        times += 1
        if times >= HOLE_AFTER_REFUSALS and at - first >= HOLE_AFTER_S:
            del self.suspects[point.key]
            self.mark_hole(point)
            return
        if point.key not in self.suspects:
            self._plan = None
        self.suspects[point.key] = (first, times)

    def note_answered(self, keys: Iterable[str]) -> None:
        """Clear the suspicion on points the device answered after all."""
        cleared = [key for key in keys if self.suspects.pop(key, None) is not None]
        if cleared:
            self._plan = None

    def mark_break(self, address: int) -> None:
        """Remember that no request may span the register before ``address``."""
        self.breaks.add(address)
        self._plan = None

    def _build(self) -> list[ReadBlock]:
        """Merge the points of each table, in address order, into blocks."""
        blocks: list[ReadBlock] = []
        apart = self.holes | self.suspects.keys()
        hole_points = [p for p in self.points if p.key in apart]
        for table in RegisterTable:
            wanted = sorted(
                (p for p in self.points if p.table is table and p.key not in apart),
                key=lambda p: p.address,
            )
            holes = [p for p in hole_points if p.table is table]
            blocks.extend(self._merge(table, wanted, holes))
            # A suspect is read alone, so its refusal costs no other point.
            blocks.extend(
                _block(table, [p])
                for p in holes
                if p.key in self.suspects and p.key not in self.holes
            )
        return blocks

    def _merge(
        self, table: RegisterTable, points: Sequence[Point], holes: Iterable[Point]
    ) -> list[ReadBlock]:
        """Merge address-sorted points of one table into blocks."""
        hole_list = list(holes)
        blocks: list[ReadBlock] = []
        run: list[Point] = []
        for point in points:
            if run:
                start = run[0].address
                end = max(p.end for p in run)
                gap = point.address - end
                spans_hole = any(
                    h.address < point.address and h.end > end for h in hole_list
                )
                if (
                    gap > self.max_gap
                    or point.end - start > self.max_registers
                    or spans_hole
                    or point.address in self.breaks
                ):
                    blocks.append(_block(table, run))
                    run = []
            run.append(point)
        if run:
            blocks.append(_block(table, run))
        return blocks


def _block(table: RegisterTable, points: Sequence[Point]) -> ReadBlock:
    """Return the block that covers a run of points."""
    start = min(p.address for p in points)
    end = max(p.end for p in points)
    return ReadBlock(table, start, end - start, tuple(points))


def split_block(block: ReadBlock) -> tuple[ReadBlock, ReadBlock]:
    """Split a block of several points in two, at a point boundary."""
    middle = len(block.points) // 2
    return (
        _block(block.table, block.points[:middle]),
        _block(block.table, block.points[middle:]),
    )
