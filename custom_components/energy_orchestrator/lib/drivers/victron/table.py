"""Victron's own Modbus-TCP register table, as the GX device serves it.

``attributes.csv`` beside this module is copied unchanged from Victron's
dbus_modbustcp (see NOTICE): one row per register, naming the dbus service
and path it shows, the Modbus type and the scale (register = value x scale).
Points are built from these rows, never typed in by hand, so a register
address, type or scale here is exactly what the GX serves.

A few registers the CSV marks ``INTERNAL`` are computed by dbus_modbustcp's
code instead (mappings.cpp); their real types are filled in from there.
"""

from collections.abc import Iterable, Iterator, Mapping
import csv
from dataclasses import dataclass
from importlib import resources
import io
import re

from ..cadence import Cadence
from ..registers import DataType, Point, RegisterTable

SERVICE_PREFIX = "com.victronenergy."
TABLE_FILE = "attributes.csv"

# The GX answers function 03 and 04 alike; Victron documents 03.
GX_TABLE = RegisterTable.HOLDING

_DATA_TYPES: Mapping[str, DataType] = {
    "int16": DataType.INT16,
    "uint16": DataType.UINT16,
    "int32": DataType.INT32,
    "uint32": DataType.UINT32,
    "uint64": DataType.UINT64,
}
# Registers dbus_modbustcp computes in code (mappings.cpp): the solar
# charger's PV current (power / voltage, int16, scale 10), the date (uint64)
# and the firmware version (uint32).
_INTERNAL_KINDS: Mapping[int, str] = {777: "int16", 830: "uint64", 834: "uint32"}
_SIZED = re.compile(r"^(?P<kind>string|reserved|INTERNAL)\[(?P<count>\d+)\]$")


@dataclass(frozen=True, slots=True)
class VictronRegister:
    """One row of the table: where a dbus value sits and how it is coded.

    ``service`` is the dbus service without ``com.victronenergy.``
    (``"battery"``); ``kind`` the Modbus type (``int16`` ... ``uint64``,
    ``string``, ``reserved``); ``scale`` what the value is multiplied by to
    make the register, as in the CSV (``-10`` for consumed amp-hours).
    """

    service: str
    path: str
    dbus_type: str
    unit: str
    address: int
    kind: str
    count: int
    scale: float
    writable: bool

    @property
    def end(self) -> int:
        """Return the address just past the register."""
        return self.address + self.count

    @property
    def options(self) -> dict[int, str]:
        """Return an enumeration's raw values and names (``0=Off;1=On``)."""
        options: dict[int, str] = {}
        for part in self.unit.split(";"):
            raw, sep, name = part.partition("=")
            if sep and raw.strip().isdigit():
                options[int(raw)] = name.strip()
        return options

    def point(
        self,
        cadence: Cadence = Cadence.FAST,
        *,
        key: str | None = None,
        zero_is_absent: bool = False,
    ) -> Point:
        """Return the register as a point decoding to the dbus value.

        The key defaults to the dbus path. The GX sends 0 for a value the
        service does not have (an invalid dbus item); ``zero_is_absent``
        reads that 0 as absent where 0 cannot be a real value.
        """
        data_type = _DATA_TYPES.get(self.kind)
        if data_type is None:
            raise ValueError(
                f"{self.service}{self.path} is a {self.kind}, not a number"
            )
        return Point(
            key if key is not None else self.path,
            GX_TABLE,
            self.address,
            data_type,
            scale=1.0 / self.scale,
            not_implemented=0 if zero_is_absent else None,
            cadence=cadence,
        )


def decode_string(registers: Iterable[int]) -> str:
    """Return the text in string registers: two Latin-1 bytes each, NUL-padded."""
    raw = b"".join(word.to_bytes(2, "big") for word in registers)
    return raw.split(b"\0", 1)[0].decode("latin-1")


def encode_string(text: str, count: int) -> list[int]:
    """Return ``count`` registers holding ``text`` as the GX sends it."""
    raw = text.encode("latin-1")[: 2 * count].ljust(2 * count, b"\0")
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def decode_firmware(high: int, low: int) -> str | None:
    """Return the GX firmware version from registers 834-835 (None: not known).

    dbus_modbustcp puts the version's major and minor bytes in the first
    register and the beta number (0 for a release) in the second; Venus
    writes the minor number in hex digits that read as decimal (0x0314 is
    v3.14, as in Victron's own firmware files).
    """
    if high == 0 and low == 0:
        return None
    version = f"v{high >> 8:x}.{high & 0xFF:02x}"
    return version if low == 0 else f"{version}~{low}"


class RegisterTableError(LookupError):
    """A lookup in the register table that does not name one register."""


@dataclass(frozen=True, slots=True)
class VictronTable:
    """The rows of the register table, looked up by service and path or address."""

    registers: tuple[VictronRegister, ...]

    def __iter__(self) -> Iterator[VictronRegister]:
        """Iterate over the rows in the table's order."""
        return iter(self.registers)

    def find(self, service: str, path: str) -> VictronRegister:
        """Return the one register of a service's path.

        A path served twice (a 16-bit and a later 32-bit register) must be
        looked up by address instead.
        """
        rows = [r for r in self.registers if r.service == service and r.path == path]
        if len(rows) != 1:
            where = ", ".join(str(r.address) for r in rows) or "nowhere"
            raise RegisterTableError(
                f"{service}{path} is served at {where}; look it up by address"
            )
        return rows[0]

    def at(self, service: str, address: int) -> VictronRegister:
        """Return the service's register that starts at an address."""
        for row in self.registers:
            if row.service == service and row.address == address:
                return row
        raise RegisterTableError(f"{service} has no register at {address}")

    def ref(self, service: str, ref: str | int) -> VictronRegister:
        """Return a register named by its path or, where that is ambiguous, address."""
        if isinstance(ref, int):
            return self.at(service, ref)
        return self.find(service, ref)

    def of_service(self, service: str) -> tuple[VictronRegister, ...]:
        """Return a service's registers."""
        return tuple(r for r in self.registers if r.service == service)


def parse_table(text: str) -> VictronTable:
    """Parse rows in the CSV layout of dbus_modbustcp's attributes.csv.

    Rows dbus_modbustcp itself would skip (too few fields, a type it does
    not know) are skipped here too, except the computed ``INTERNAL``
    registers whose real types come from its code.
    """
    rows: list[VictronRegister] = []
    for fields in csv.reader(io.StringIO(text)):
        if len(fields) < 8 or not fields[0].startswith(SERVICE_PREFIX):
            continue
        service, path, dbus_type, unit, register, modbus_type, scale, access = (
            field.strip() for field in fields[:8]
        )
        address = int(register)
        kind, count = _kind_and_count(modbus_type, address)
        if kind is None:
            continue
        rows.append(
            VictronRegister(
                service=service.removeprefix(SERVICE_PREFIX),
                path=path,
                dbus_type=dbus_type,
                unit=unit,
                address=address,
                kind=kind,
                count=count,
                # dbus_modbustcp reads an empty or zero scale as 1.
                scale=float(scale) if scale and float(scale) != 0 else 1.0,
                writable=access == "W",
            )
        )
    return VictronTable(tuple(rows))


def _kind_and_count(modbus_type: str, address: int) -> tuple[str | None, int]:
    """Return a row's Modbus type and size in registers (None: not served)."""
    if modbus_type in _DATA_TYPES:
        return modbus_type, _DATA_TYPES[modbus_type].registers
    match = _SIZED.match(modbus_type)
    if match is None:
        return None, 0
    kind, count = match["kind"], int(match["count"])
    if kind == "INTERNAL":
        internal = _INTERNAL_KINDS.get(address)
        if internal is None:
            return None, 0
        return internal, _DATA_TYPES[internal].registers
    return kind, count


# Read when the module is imported (in Home Assistant, in its import
# executor), never in the event loop.
_GX_TABLE = parse_table(
    resources.files(__package__).joinpath(TABLE_FILE).read_text("utf-8")
)


def gx_table() -> VictronTable:
    """Return the register table bundled with the driver."""
    return _GX_TABLE
