"""The device families this integration can talk to, by family id.

A family says how its devices are reached (Modbus, a raw serial protocol, or
a CAN bus) and builds its driver on a link: Home Assistant's shared Modbus
connections or the lab's own (``transport.pool.Links``), or a CAN bus of its
own (``build_can_driver``). The config flow, ``eo probe``, ``eo node`` and
the simulator all look families up here.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from .base import Driver
from .bms import DalyBms, JkPbBms, PylontechCanBattery, PylontechStack
from .eastron import SDM630
from .eastron_variants import SDM72, SDM120
from .generic import GenericModbus, parse_register_map
from .sunspec import SunSpecDriver
from .transport.can_link import DEFAULT_BITRATE, CanChannel, CanLink
from .transport.endpoint import Endpoint
from .transport.modbus import ModbusLink
from .transport.pool import Links
from .transport.serial_link import SerialLink
from .victron import VictronGX
from .voltronic import VoltronicPI30
from .wallbox import AlfenWallbox


class Protocol(StrEnum):
    """What goes over a family's link."""

    MODBUS = "modbus"
    SERIAL = "serial"  # a raw serial protocol: serial ports and pyserial URLs only
    CAN = "can"  # frames on a CAN bus, through python-can


class Transport(StrEnum):
    """How a family's devices can be reached."""

    # A host and port: Modbus TCP, or Modbus RTU through an RS485 gateway.
    NETWORK = "network"
    # A serial port, or a pyserial URL (socket:// for ser2net).
    SERIAL = "serial"
    # A CAN bus: python-can's interface, channel and bitrate.
    CAN = "can"


class AddressKind(StrEnum):
    """What a device's address on its bus (its driver's ``unit``) is."""

    MODBUS_UNIT = "unit_id"
    # The address a Pylontech stack's master pack has on its DIP switches.
    PACK = "pack_address"
    # The address of a BMS board on its bus.
    BMS = "bms_address"


@dataclass(frozen=True, slots=True)
class Family:
    """One device family.

    ``address`` is what ``unit`` means for it: the Modbus unit id, or the
    address of a pack or BMS on a shared RS485 bus; None for a device that
    has no address (it is alone on its port). ``address_range`` bounds it.
    ``transports`` are the ways its devices can be reached.
    """

    id: str
    name: str
    protocol: Protocol
    transports: frozenset[Transport] = frozenset({Transport.NETWORK, Transport.SERIAL})
    address: AddressKind | None = AddressKind.MODBUS_UNIT
    address_range: tuple[int, int] = (1, 247)
    build_modbus: Callable[[ModbusLink, int], Driver] | None = None
    build_serial: Callable[[SerialLink, int], Driver] | None = None
    # A CAN family's driver on its bus; the flag sends the inverter's keep-alive.
    build_can: Callable[[CanLink, bool], Driver] | None = None
    default_bitrate: int = DEFAULT_BITRATE
    default_unit: int = 1
    default_baudrate: int = 9600
    default_port: int = 502
    # The generic family reads what a user's register map describes.
    needs_register_map: bool = False
    # Whether the identity a device reports is its own; a family whose
    # devices report no serial number is told apart by where it is reached.
    unique_serial: bool = True


def families_reached_over(transport: Transport) -> list[Family]:
    """Return the families whose devices can be reached so, by name."""
    return sorted(
        (family for family in FAMILIES.values() if transport in family.transports),
        key=lambda family: family.name.casefold(),
    )


def build_driver(
    links: Links,
    family: Family,
    endpoint: Endpoint,
    unit: int,
    register_map: str | None = None,
) -> Driver:
    """Return a family's driver on a link for the endpoint from ``links``.

    The caller gives the link back as ``links`` asks. Raises
    ValueError for a raw serial family asked to use a network Modbus link or
    for a register map that is missing or wrong (the message says where), and
    LinkSettingsConflictError for a bus in use at other settings.
    """
    if family.needs_register_map:
        if not register_map:
            raise ValueError(f"{family.name} needs a register map (JSON)")
        parsed = parse_register_map(register_map)
        return GenericModbus(links.acquire_modbus(endpoint), unit, parsed)
    if family.protocol is Protocol.CAN:
        raise ValueError(
            f"{family.name} is reached over a CAN bus: give its interface,"
            " channel and bitrate"
        )
    if family.protocol is Protocol.MODBUS:
        assert family.build_modbus is not None
        return family.build_modbus(links.acquire_modbus(endpoint), unit)
    if family.build_serial is None or endpoint.serial is None:
        raise ValueError(
            f"{family.name} speaks a serial protocol: give a serial port or a"
            " pyserial URL (socket://host:port for ser2net)"
        )
    return family.build_serial(links.acquire_serial(endpoint), unit)


def build_can_driver(
    family: Family,
    interface: str,
    channel: str,
    bitrate: int | None = None,
    *,
    keepalive: bool = False,
) -> Driver:
    """Return a CAN family's driver on a bus of its own.

    ``interface`` and ``channel`` are python-can's (``socketcan`` and
    ``can0``, ``slcan`` and ``/dev/ttyACM0`` or ``socket://host:port``);
    ``bitrate`` defaults to the family's. Nothing opens before the driver's
    first identify or poll; the caller closes ``driver.link`` when done.
    Raises ValueError for a family not reached over CAN.
    """
    if family.build_can is None:
        raise ValueError(f"{family.name} is not reached over a CAN bus")
    bus = CanChannel(interface, channel, bitrate or family.default_bitrate)
    return family.build_can(CanLink(bus), keepalive)


FAMILIES: Mapping[str, Family] = {
    family.id: family
    for family in (
        Family(
            "sdm630",
            "Eastron SDM630 (three-phase meter)",
            Protocol.MODBUS,
            build_modbus=SDM630,
        ),
        Family(
            "sunspec",
            "SunSpec inverter, meter or battery (SMA, Fronius, SolarEdge, FIMER...)",
            Protocol.MODBUS,
            build_modbus=SunSpecDriver,
        ),
        Family(
            "sdm120",
            "Eastron SDM120 (single-phase meter)",
            Protocol.MODBUS,
            build_modbus=SDM120,
            default_baudrate=2400,
        ),
        Family(
            "sdm72",
            "Eastron SDM72D-M V2 (three-phase meter)",
            Protocol.MODBUS,
            build_modbus=SDM72,
        ),
        Family(
            "victron_gx",
            "Victron GX (Cerbo GX, Venus GX, CCGX)",
            Protocol.MODBUS,
            build_modbus=VictronGX,
            # The GX serves Modbus TCP only.
            transports=frozenset({Transport.NETWORK}),
            default_unit=100,
        ),
        Family(
            "alfen",
            "Alfen Eve wallbox (Modbus TCP)",
            Protocol.MODBUS,
            build_modbus=AlfenWallbox,
            transports=frozenset({Transport.NETWORK}),
        ),
        Family(
            "voltronic_pi30",
            "Voltronic PI30 inverter (Axpert, MKS II and relatives)",
            Protocol.SERIAL,
            build_serial=VoltronicPI30,
            transports=frozenset({Transport.SERIAL}),
            # One inverter per port: PI30 has no address.
            address=None,
            default_baudrate=2400,
        ),
        Family(
            "pylontech",
            "Pylontech battery stack (RS485)",
            Protocol.SERIAL,
            build_serial=PylontechStack,
            transports=frozenset({Transport.SERIAL}),
            address=AddressKind.PACK,
            address_range=(1, 255),
            default_unit=2,
            default_baudrate=115200,
        ),
        Family(
            "jk_pb",
            "JK BMS PB series (RS485)",
            Protocol.SERIAL,
            build_serial=JkPbBms,
            transports=frozenset({Transport.SERIAL}),
            address=AddressKind.BMS,
            # What its four DIP switches can set.
            address_range=(0, 15),
            default_baudrate=115200,
        ),
        Family(
            "daly",
            "Daly smart BMS (UART/RS485)",
            Protocol.SERIAL,
            build_serial=DalyBms,
            transports=frozenset({Transport.SERIAL}),
            address=AddressKind.BMS,
            address_range=(1, 255),
            unique_serial=False,
        ),
        Family(
            "pylontech_can",
            "Battery on CAN bus (Pylontech protocol: Pylontech, JK, Seplos...)",
            Protocol.CAN,
            build_can=PylontechCanBattery,
            transports=frozenset({Transport.CAN}),
            # The only battery on its bus: the protocol has no address.
            address=None,
            # The protocol carries no serial number: the bus tells them apart.
            unique_serial=False,
        ),
        Family(
            "generic",
            "Another Modbus device, from a register map",
            Protocol.MODBUS,
            needs_register_map=True,
        ),
    )
}
