"""A user's register map: what it says, and the check that names every error.

A register map names a Modbus device and lists its points;
``load_register_map`` checks it and says exactly what is wrong
(``points[3].type: ...``). The map format::

    {
      "manufacturer": "Acme",
      "model": "PowerMeter 3",
      "serial": "PM3-0042",                       (or a register, see below)
      "firmware": {"address": 30, "table": "holding", "type": "uint16"},
      "max_registers": 100,                       (optional, default 125)
      "points": [
        {"key": "grid_power", "address": 0, "table": "input", "type": "float32"},
        {"key": "grid_import_energy", "address": 72, "table": "input",
         "type": "uint32", "word_order": "little", "scale": 10,
         "cadence": "slow", "not_implemented": 4294967295},
        {"key": "inverter_mode", "address": 40, "table": "holding",
         "type": "uint16", "options": {"0": "off", "1": "grid", "2": "fault"}},
        {"key": "mppt1/pv_power", "address": 50, "table": "holding",
         "type": "uint16"}
      ]
    }

``serial`` and ``firmware`` are text, or a register: ``address``, ``table``
and ``type`` (``string`` takes ``count`` registers of two ASCII characters).
A point's ``scale`` converts the raw number into the key's unit (a counter
in kWh has scale 1000, the value model counts Wh); ``cadence`` defaults to
slow for energy counters and fast for the rest; ``options`` maps raw values
of an enumerated key onto its options; a key ``sub/key`` belongs to the
sub-device ``sub``.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
import difflib
import json
import math
from pathlib import Path
from typing import Any, cast

from ..cadence import Cadence
from ..registers import POINT_TYPES, Point, RegisterTable, WordOrder, make_point
from ..values import QUANTITIES, SUB_DEVICE_SEPARATOR, Unit


class RegisterMapError(ValueError):
    """A register map that cannot be used; the message names the field."""


_TABLES: Mapping[str, RegisterTable] = {
    "holding": RegisterTable.HOLDING,
    "input": RegisterTable.INPUT,
}
_WORD_ORDERS: Mapping[str, WordOrder] = {
    "big": WordOrder.BIG,
    "little": WordOrder.LITTLE,
}
_CADENCES: Mapping[str, Cadence] = {"fast": Cadence.FAST, "slow": Cadence.SLOW}
_MAP_FIELDS = ("manufacturer", "model", "serial", "firmware", "max_registers", "points")
_POINT_FIELDS = (
    "key",
    "address",
    "table",
    "type",
    "word_order",
    "scale",
    "cadence",
    "not_implemented",
    "options",
)
_REGISTER_FIELDS = ("address", "table", "type", "count", "word_order")
_MAX_REQUEST = 125
_REGISTER_SPACE = 0x10000


@dataclass(frozen=True, slots=True)
class RegisterText:
    """Text or a number read from registers (a serial number, a firmware)."""

    table: RegisterTable
    address: int
    type_name: str
    count: int
    word_order: WordOrder = WordOrder.BIG

    def decode(self, registers: Sequence[int]) -> str:
        """Return the registers as text: ASCII for strings, digits for numbers."""
        if self.type_name == "string":
            raw = b"".join(word.to_bytes(2, "big") for word in registers)
            return raw.split(b"\0", 1)[0].decode("ascii", "replace").strip()
        value = make_point(
            "", self.table, self.address, self.type_name, word_order=self.word_order
        ).decode(registers)
        if value is None:
            return ""
        return f"{value:g}" if not value.is_integer() else str(int(value))


@dataclass(frozen=True, slots=True)
class RegisterMap:
    """A checked register map: who the device is, and its points."""

    manufacturer: str
    model: str
    serial: str | RegisterText
    points: tuple[Point, ...]
    firmware: str | RegisterText | None = None
    options: Mapping[str, Mapping[int, str]] = field(default_factory=dict)
    max_registers: int = _MAX_REQUEST

    @property
    def sub_devices(self) -> tuple[str, ...]:
        """Return the sub-device names the point keys use, in order."""
        names: dict[str, None] = {}
        for point in self.points:
            sub, separator, _ = point.key.rpartition(SUB_DEVICE_SEPARATOR)
            if separator:
                names[sub] = None
        return tuple(names)


def _check(document: object) -> RegisterMap:
    """Return the map a parsed JSON document describes; raise naming the field."""
    if not isinstance(document, dict):
        raise RegisterMapError("the register map must be a JSON object")
    _no_unknown_fields(document, _MAP_FIELDS, "")
    manufacturer = _text(document, "manufacturer")
    model = _text(document, "model")
    if "serial" not in document:
        raise RegisterMapError(
            "serial: give the serial number as text, or the register that holds it"
        )
    serial = _text_or_register(document["serial"], "serial")
    firmware = (
        _text_or_register(document["firmware"], "firmware")
        if document.get("firmware") is not None
        else None
    )
    max_registers = document.get("max_registers", _MAX_REQUEST)
    if not _is_int(max_registers) or not 1 <= max_registers <= _MAX_REQUEST:
        raise RegisterMapError(
            f"max_registers: must be a whole number from 1 to {_MAX_REQUEST},"
            f" not {max_registers!r}"
        )
    raw_points = document.get("points")
    if not isinstance(raw_points, list) or not raw_points:
        raise RegisterMapError("points: a non-empty list of points is required")
    points: list[Point] = []
    options: dict[str, Mapping[int, str]] = {}
    for index, raw in enumerate(raw_points):
        point, point_options = _point(raw, f"points[{index}]")
        _no_clash(point, index, points)
        points.append(point)
        if point_options is not None:
            options[point.key] = point_options
    return RegisterMap(
        manufacturer=manufacturer,
        model=model,
        serial=serial,
        points=tuple(points),
        firmware=firmware,
        options=options,
        max_registers=max_registers,
    )


def _is_int(value: object) -> bool:
    """Return whether a JSON value is a whole number (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _no_unknown_fields(
    document: Mapping[str, object], known: Sequence[str], where: str
) -> None:
    """Refuse a field the format does not have (a typo would go unnoticed)."""
    for name in document:
        if name not in known:
            prefix = f"{where}: " if where else ""
            hint = difflib.get_close_matches(name, known, n=1)
            guess = f"; did you mean {hint[0]!r}?" if hint else ""
            raise RegisterMapError(
                f"{prefix}unknown field {name!r} (known: {', '.join(known)}){guess}"
            )


def _text(document: Mapping[str, object], name: str) -> str:
    """Return a required non-empty text field."""
    value = document.get(name)
    if not isinstance(value, str) or not value.strip():
        raise RegisterMapError(f"{name}: a non-empty text is required")
    return value.strip()


def _choice[T](value: object, choices: Mapping[str, T], where: str) -> T:
    """Return the choice a text names; raise naming the choices."""
    if not isinstance(value, str) or value not in choices:
        raise RegisterMapError(
            f"{where}: must be one of {', '.join(choices)}, not {value!r}"
        )
    return choices[value]


def _address(value: object, count: int, where: str) -> int:
    """Return a register address whose ``count`` registers fit in the space."""
    if not _is_int(value) or not 0 <= cast(int, value) < _REGISTER_SPACE:
        raise RegisterMapError(
            f"{where}.address: must be a whole number from 0 to 65535, not {value!r}"
        )
    address = cast(int, value)
    if address + count > _REGISTER_SPACE:
        raise RegisterMapError(
            f"{where}.address: registers {address}-{address + count - 1} run past 65535"
        )
    return address


def _text_or_register(value: object, where: str) -> str | RegisterText:
    """Return fixed text, or the register a value is read from."""
    if isinstance(value, str):
        if not value.strip():
            raise RegisterMapError(f"{where}: must not be empty")
        return value.strip()
    if not isinstance(value, dict):
        raise RegisterMapError(
            f"{where}: must be text or a register"
            ' ({"address": ..., "table": ..., "type": ...})'
        )
    _no_unknown_fields(value, _REGISTER_FIELDS, where)
    type_name = value.get("type")
    if type_name == "string":
        count = value.get("count")
        if (
            not isinstance(count, int)
            or isinstance(count, bool)
            or not 1 <= count <= _MAX_REQUEST
        ):
            raise RegisterMapError(
                f"{where}.count: a string needs a count of registers from 1 to"
                f" {_MAX_REQUEST}, not {count!r}"
            )
    else:
        data_type, _ = _choice(type_name, POINT_TYPES, f"{where}.type")
        count = data_type.registers
    return RegisterText(
        table=_choice(value.get("table"), _TABLES, f"{where}.table"),
        address=_address(value.get("address"), count, where),
        type_name=cast(str, type_name),
        count=count,
        word_order=_choice(
            value.get("word_order", "big"), _WORD_ORDERS, f"{where}.word_order"
        ),
    )


def _point(raw: object, where: str) -> tuple[Point, Mapping[int, str] | None]:
    """Return one checked point and its options, if it is an enumeration."""
    if not isinstance(raw, dict):
        raise RegisterMapError(f"{where}: a point must be an object")
    point = cast(dict[str, Any], raw)
    _no_unknown_fields(point, _POINT_FIELDS, where)
    key = point.get("key")
    if not isinstance(key, str):
        raise RegisterMapError(f"{where}.key: a canonical key is required")
    quantity_key = key.rpartition(SUB_DEVICE_SEPARATOR)[2]
    quantity = QUANTITIES.get(quantity_key)
    if quantity is None:
        hint = difflib.get_close_matches(quantity_key, QUANTITIES, n=1)
        guess = f"; did you mean {hint[0]!r}?" if hint else ""
        raise RegisterMapError(f"{where}.key: {key!r} is not a canonical key{guess}")
    if SUB_DEVICE_SEPARATOR in key and not key.partition(SUB_DEVICE_SEPARATOR)[0]:
        raise RegisterMapError(f"{where}.key: {key!r} names no sub-device before the /")
    table = _choice(point.get("table"), _TABLES, f"{where}.table")
    type_name = point.get("type")
    data_type, _ = _choice(type_name, POINT_TYPES, f"{where}.type")
    address = _address(point.get("address"), data_type.registers, where)
    word_order = _choice(
        point.get("word_order", "big"), _WORD_ORDERS, f"{where}.word_order"
    )
    scale = _scale(point.get("scale", 1), where)
    default_cadence = "slow" if quantity.unit is Unit.WATT_HOUR else "fast"
    cadence = _choice(
        point.get("cadence", default_cadence), _CADENCES, f"{where}.cadence"
    )
    not_implemented = point.get("not_implemented")
    bits = 16 * data_type.registers
    if not_implemented is not None and (
        not _is_int(not_implemented) or not 0 <= not_implemented < 1 << bits
    ):
        raise RegisterMapError(
            f"{where}.not_implemented: must be the raw register value as a whole"
            f" number from 0 to {(1 << bits) - 1}, not {not_implemented!r}"
        )
    options = _options(point.get("options"), key, quantity.options, where)
    made = make_point(
        key,
        table,
        address,
        cast(str, type_name),
        scale=scale,
        word_order=word_order,
        not_implemented=not_implemented,
        cadence=cadence,
    )
    return made, options


def _scale(value: object, where: str) -> float:
    """Return a point's scale: a finite number other than 0."""
    try:
        scale = (
            float(value)
            if isinstance(value, int | float) and not isinstance(value, bool)
            else math.nan
        )
    except OverflowError:
        scale = math.nan
    if not math.isfinite(scale) or scale == 0:
        raise RegisterMapError(
            f"{where}.scale: must be a finite number other than 0, not {value!r}"
        )
    return scale


def _options(
    raw: object, key: str, allowed: tuple[str, ...] | None, where: str
) -> Mapping[int, str] | None:
    """Return an enumeration's raw values and options, checked against the key."""
    if allowed is None:
        if raw is not None:
            raise RegisterMapError(
                f"{where}.options: {key} is a number, not an enumeration"
            )
        return None
    if not isinstance(raw, dict) or not raw:
        raise RegisterMapError(
            f"{where}.options: {key} is an enumeration; map raw values to its"
            f" options ({', '.join(allowed)})"
        )
    options: dict[int, str] = {}
    for raw_value, option in raw.items():
        try:
            number = int(raw_value)
        except ValueError:
            raise RegisterMapError(
                f"{where}.options: {raw_value!r} is not a whole number"
            ) from None
        if option not in allowed:
            raise RegisterMapError(
                f"{where}.options: {raw_value} maps to {option!r}, which is not one"
                f" of {key}'s options ({', '.join(allowed)})"
            )
        options[number] = option
    return options


def _no_clash(point: Point, index: int, earlier: Sequence[Point]) -> None:
    """Refuse a key given twice, or registers two points share."""
    for other_index, other in enumerate(earlier):
        if other.key == point.key:
            raise RegisterMapError(
                f"points[{index}].key: {point.key} is already points[{other_index}]"
            )
        if (
            other.table is point.table
            and other.address < point.end
            and point.address < other.end
        ):
            table = point.table.name.lower()
            raise RegisterMapError(
                f"points[{index}].address: registers {point.address}-{point.end - 1}"
                f" ({table}) overlap points[{other_index}] ({other.key},"
                f" {table} {other.address}-{other.end - 1})"
            )


def parse_register_map(text: str) -> RegisterMap:
    """Return the map a JSON text describes; raise ValueError naming the error."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise RegisterMapError(
            f"the register map is not valid JSON: {err.msg}"
            f" (line {err.lineno}, column {err.colno})"
        ) from err
    except RecursionError as err:
        raise RegisterMapError("the register map is nested too deeply") from err
    return _check(document)


def load_register_map(text_or_path: str | Path) -> RegisterMap:
    """Return the map in a JSON text or file; raise ValueError naming the error.

    A string starting with ``{`` or ``[`` is the JSON itself; any other
    string, or a Path, names a file.
    """
    if isinstance(text_or_path, str) and text_or_path.lstrip()[:1] in {"{", "["}:
        return parse_register_map(text_or_path)
    path = Path(text_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise RegisterMapError(f"cannot read the register map {path}: {err}") from err
    return parse_register_map(text)
