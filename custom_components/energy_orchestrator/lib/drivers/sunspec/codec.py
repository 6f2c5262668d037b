"""Decoding (and, for simulators, encoding) SunSpec models from registers.

Everything here follows the model definitions: a point's type says how its
registers read and which raw value means "not implemented"; its scale factor
is another point of the same group (or of a group around it) holding a power
of ten. A point that is not implemented, or whose scale factor is not, is
None: absent, never 0.

Not implemented, by type (SunSpec Information Model Reference):
int16/sunssf 0x8000; uint16, count, enum16, bitfield16 0xFFFF; int32
0x80000000; uint32, enum32, bitfield32 0xFFFFFFFF; int64 0x8000000000000000;
uint64 0xFFFFFFFFFFFFFFFF; acc16/acc32/acc64 0 (an accumulator that never
counted); float32/float64 NaN; a string of only 0x0000 (or only 0xFFFF, which
some devices send) registers.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
import math
import struct

from .definitions import GroupDef, ModelDef, PointDef

type Value = float | int | str | None

# Model header and end of chain.
ID_POINT = "ID"
LENGTH_POINT = "L"
END_MODEL_ID = 0xFFFF
HEADER_SIZE = 2

_SIGNED = frozenset({"int16", "int32", "int64", "sunssf"})
_UNSIGNED = frozenset(
    {
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
    }
)
_FLOATS = {"float32": ">f", "float64": ">d"}
# Types this driver never needs the value of: padding and network addresses.
_OPAQUE = frozenset({"pad", "ipaddr", "ipv6addr", "eui48"})
_ACCUMULATORS = frozenset({"acc16", "acc32", "acc64"})
# SunSpec pads with 0x8000.
_PAD_WORD = 0x8000
# Scale factors are powers of ten in this range; anything else is garbage.
_SF_RANGE = range(-10, 11)


def not_implemented_raw(point_type: str, size: int) -> int:
    """Return the raw integer that means "not implemented" for a type."""
    bits = 16 * size
    if point_type in _ACCUMULATORS:
        return 0
    if point_type in _SIGNED:
        return 1 << (bits - 1)
    return (1 << bits) - 1


def decode_point(point: PointDef, words: Sequence[int]) -> Value:
    """Return a point's raw value (before scaling), None when absent."""
    if len(words) < point.size or point.type in _OPAQUE:
        return None
    raw_bytes = b"".join((word & 0xFFFF).to_bytes(2, "big") for word in words)
    if point.type == "string":
        return _decode_string(raw_bytes)
    if (float_format := _FLOATS.get(point.type)) is not None:
        (number,) = struct.unpack(float_format, raw_bytes)
        return float(number) if math.isfinite(number) else None
    unsigned = int.from_bytes(raw_bytes, "big")
    if unsigned == not_implemented_raw(point.type, point.size):
        return None
    if point.type in _SIGNED:
        signed = int.from_bytes(raw_bytes, "big", signed=True)
        if point.type == "sunssf" and signed not in _SF_RANGE:
            return None
        return signed
    if point.type in _UNSIGNED:
        return unsigned
    return None


def _decode_string(raw_bytes: bytes) -> str | None:
    """Return a string point's text; None for all-0x0000 or all-0xFFFF."""
    if not raw_bytes.strip(b"\x00") or not raw_bytes.strip(b"\xff"):
        return None
    text = raw_bytes.split(b"\x00", 1)[0].decode("utf-8", errors="replace")
    cleaned = "".join(char for char in text if char.isprintable()).strip()
    return cleaned or None


def scale(raw: Value, exponent: int) -> float | None:
    """Return ``raw * 10**exponent`` as the nearest float to the decimal."""
    if raw is None or isinstance(raw, str):
        return None
    if exponent < 0:
        # Dividing by an exact power of ten rounds once: 2392 -> 239.2,
        # where multiplying by 0.1 would give 239.20000000000002.
        return float(raw / 10**-exponent)
    return float(raw * 10**exponent)


@dataclass(slots=True)
class GroupValues:
    """The decoded values of one instance of a group.

    ``values`` holds scaled numbers (floats), raw integers for points
    without a scale factor (enumerations, bitfields, counts), strings, and
    None for what is absent. ``start`` is where the instance begins, in
    registers from the model's ID register.
    """

    definition: GroupDef
    start: int
    values: dict[str, Value] = field(default_factory=dict)
    groups: dict[str, list[GroupValues]] = field(default_factory=dict)

    def get(self, name: str) -> Value:
        """Return a point's value, None when absent or unknown."""
        return self.values.get(name)

    def as_plain(self) -> dict[str, object]:
        """Return the values that are there, nested groups as lists (diagnostics)."""
        plain: dict[str, object] = {
            name: value for name, value in self.values.items() if value is not None
        }
        for name, instances in self.groups.items():
            plain[name] = [instance.as_plain() for instance in instances]
        return plain

    def number(self, name: str) -> float | None:
        """Return a point's value as a number, None when it is not one."""
        value = self.values.get(name)
        if value is None or isinstance(value, str):
            return None
        return float(value)

    def symbol(self, name: str) -> str | None:
        """Return the symbol name of an enumerated point's value."""
        value = self.values.get(name)
        point = self.definition.point(name)
        if not isinstance(value, int) or point is None or not point.symbols:
            return None
        return point.symbols.get(value)

    def offset_of(self, name: str) -> int | None:
        """Return a point's register offset from the model's ID register."""
        point = self.definition.point(name)
        return None if point is None else self.start + point.offset


def decode_model(model: ModelDef, words: Sequence[int]) -> GroupValues:
    """Decode a model from its registers, starting at its ID register.

    Registers missing at the end (a device with a shorter model than the
    definition) decode as absent; repeating groups repeat as often as their
    count point says, or as the registers allow.
    """
    values, _ = _decode_group(model.group, words, 0, ())
    return values


def _decode_group(
    group: GroupDef,
    words: Sequence[int],
    start: int,
    outer: tuple[Mapping[str, Value], ...],
) -> tuple[GroupValues, int]:
    """Decode one instance of a group at ``start``; return it and its end."""
    raw: dict[str, Value] = {
        point.name: decode_point(
            point, words[start + point.offset : start + point.offset + point.size]
        )
        for point in group.points
    }
    instance = GroupValues(group, start)
    position = start + group.points_size
    for child in group.groups:
        repeats = _repeats(child, raw, outer, len(words) - position)
        instances: list[GroupValues] = []
        for _ in range(repeats):
            decoded, position = _decode_group(child, words, position, (raw, *outer))
            instances.append(decoded)
        instance.groups[child.name] = instances
    for point in group.points:
        instance.values[point.name] = _scaled(point, raw, outer)
    return instance, position


def _lookup(
    name: str, own: Mapping[str, Value], outer: tuple[Mapping[str, Value], ...]
) -> Value:
    """Return a point's raw value from a group or the groups around it."""
    for scope in (own, *outer):
        if name in scope:
            return scope[name]
    return None


def _exponent(
    point: PointDef, own: Mapping[str, Value], outer: tuple[Mapping[str, Value], ...]
) -> int | None:
    """Return the scale factor exponent of a point, None when not usable."""
    if isinstance(point.sf, int):
        return point.sf
    assert point.sf is not None
    exponent = _lookup(point.sf, own, outer)
    return exponent if isinstance(exponent, int) else None


def _scaled(
    point: PointDef, own: Mapping[str, Value], outer: tuple[Mapping[str, Value], ...]
) -> Value:
    """Return a point's value with its scale factor applied."""
    raw = own[point.name]
    if point.sf is None or raw is None:
        return raw
    exponent = _exponent(point, own, outer)
    if exponent is None:
        return None
    return scale(raw, exponent)


def _fixed_size(group: GroupDef) -> int:
    """Return the registers one instance takes, counting fixed repeats only."""
    size = group.points_size
    for child in group.groups:
        if child.count is None:
            size += _fixed_size(child)
        elif isinstance(child.count, int):
            size += _fixed_size(child) * child.count
    return size


def _repeats(
    group: GroupDef,
    own: Mapping[str, Value],
    outer: tuple[Mapping[str, Value], ...],
    remaining: int,
) -> int:
    """Return how many instances of a nested group follow."""
    size = _fixed_size(group)
    if size <= 0:
        return 0
    fits = max(remaining, 0) // size
    count = group.count
    if count is None:
        return 1
    if isinstance(count, int):
        return fits if count == 0 else min(count, fits)
    stated = _lookup(count, own, outer)
    # A count the registers cannot hold is a bad read: decode what is there.
    return min(stated, fits) if isinstance(stated, int) else 0


# Encoding, for simulators and tests: the inverse of decoding.

type GroupData = Mapping[str, object]


def encode_point(point: PointDef, raw: object) -> list[int]:
    """Return a point's registers for a raw (unscaled) value; None is absent.

    Integers beyond what the type holds saturate, short of the "not
    implemented" marker, so a simulated value past a register's range reads
    as the largest value rather than as absent.
    """
    size = point.size
    if point.type == "pad":
        return [_PAD_WORD] * size
    if point.type in _OPAQUE:
        return [0] * size
    if point.type == "string":
        text = raw.encode("utf-8") if isinstance(raw, str) else b""
        padded = text[: size * 2].ljust(size * 2, b"\x00")
        return [int.from_bytes(padded[i : i + 2], "big") for i in range(0, 2 * size, 2)]
    if (float_format := _FLOATS.get(point.type)) is not None:
        number = float(raw) if isinstance(raw, int | float) else math.nan
        return _words(struct.pack(float_format, number))
    marker = not_implemented_raw(point.type, size)
    if not isinstance(raw, int | float):
        return _words(marker.to_bytes(2 * size, "big"))
    bits = 16 * size
    signed = point.type in _SIGNED
    low, high = (
        (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    )
    if signed:
        low += 1  # the lowest value is the marker
    elif point.type in _ACCUMULATORS:
        low = 1
    else:
        high -= 1
    value = min(max(round(raw), low), high)
    return _words(value.to_bytes(2 * size, "big", signed=signed))


def _words(raw_bytes: bytes) -> list[int]:
    """Return big-endian bytes as 16-bit registers."""
    return [
        int.from_bytes(raw_bytes[i : i + 2], "big") for i in range(0, len(raw_bytes), 2)
    ]


def unscale(value: object, exponent: int | None) -> object:
    """Return the raw number whose scaled value is ``value``."""
    if not isinstance(value, int | float) or exponent is None:
        return None if exponent is None else value
    return round(value * 10**-exponent) if exponent < 0 else round(value / 10**exponent)


def encode_model(model: ModelDef, data: GroupData) -> list[int]:
    """Return a model's registers, ID and length included, from its values.

    ``data`` maps point names to values in engineering units (a point with a
    scale factor is given scaled; its scale factor point holds the
    exponent) and nested group names to lists of such mappings. A point not
    given is encoded as not implemented.
    """
    words = _encode_group(model.group, data, ())
    words[0] = model.id
    words[1] = len(words) - HEADER_SIZE
    return words


def _encode_group(
    group: GroupDef, data: GroupData, outer: tuple[Mapping[str, object], ...]
) -> list[int]:
    """Return the registers of one group instance."""
    own = {point.name: data.get(point.name) for point in group.points}
    words: list[int] = []
    for point in group.points:
        value = own[point.name]
        if point.sf is not None:
            exponent: object = (
                point.sf
                if isinstance(point.sf, int)
                else _lookup_data(point.sf, own, outer)
            )
            value = unscale(value, exponent if isinstance(exponent, int) else None)
        words.extend(encode_point(point, value))
    for child in group.groups:
        instances = data.get(child.name)
        if instances is None:
            # A group that is always there still takes its registers.
            instances = [{}] if child.count is None else []
        elif isinstance(instances, Mapping):
            instances = [instances]
        assert isinstance(instances, Sequence)
        for instance in instances:
            assert isinstance(instance, Mapping)
            words.extend(_encode_group(child, instance, (own, *outer)))
    return words


def _lookup_data(
    name: str, own: Mapping[str, object], outer: tuple[Mapping[str, object], ...]
) -> object:
    """Return a value given for a point of a group or the groups around it."""
    for scope in (own, *outer):
        if name in scope:
            return scope[name]
    return None
