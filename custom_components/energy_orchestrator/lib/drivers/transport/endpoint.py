"""Where a device is reached, parsed from the URLs users and installers type.

- ``tcp://host:port``: Modbus TCP.
- ``rtu-over-tcp://host:port``: Modbus RTU frames through a TCP gateway that
  passes bytes through (most cheap RS485-to-Ethernet converters).
- anything else is a serial port for pyserial: a device path
  (``/dev/ttyUSB0``) or a pyserial URL (``socket://host:port``,
  ``rfc2217://host:port``), for a bus on another machine behind ser2net.
"""

from dataclasses import dataclass
from enum import StrEnum
import re
from urllib.parse import urlsplit


class LinkKind(StrEnum):
    """How frames travel: Modbus over TCP or a serial line, or a CAN bus."""

    TCP = "tcp"
    RTU_OVER_TCP = "rtu-over-tcp"
    SERIAL = "serial"
    # A CAN bus through python-can (``can_link``), named ``interface:channel``.
    CAN = "can"


DEFAULT_MODBUS_PORT = 502
DEFAULT_BAUDRATE = 9600

# The schemes a URL may have, as a user reads them.
ACCEPTED = (
    "tcp://HOST:PORT (Modbus TCP), rtu-over-tcp://HOST:PORT (a transparent"
    " RS485 gateway), socket://HOST:PORT or rfc2217://HOST:PORT (a serial"
    " port on another machine, ser2net), or a serial device path"
    " (/dev/ttyUSB0)"
)
# HOST:PORT with no scheme: an address, not a device path.
_HOST_AND_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):\d+")


@dataclass(frozen=True, slots=True)
class SerialSettings:
    """Line settings of a serial bus."""

    baudrate: int = DEFAULT_BAUDRATE
    bytesize: int = 8
    parity: str = "N"
    stopbits: int = 1


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A bus or gateway: everything on it shares one connection.

    ``address`` is ``host:port`` for network links and the pyserial port or
    URL for serial links.
    """

    kind: LinkKind
    address: str
    serial: SerialSettings | None = None

    @property
    def bus_key(self) -> tuple[LinkKind, str]:
        """Return what identifies the bus, whatever its line settings."""
        return (self.kind, self.address)

    @property
    def host(self) -> str:
        """Return the host of a network link."""
        return self.address.rsplit(":", 1)[0].strip("[]")

    @property
    def port(self) -> int:
        """Return the port of a network link."""
        return int(self.address.rsplit(":", 1)[1])

    def __str__(self) -> str:
        """Return the endpoint as the URL it was given as."""
        if self.kind in (LinkKind.SERIAL, LinkKind.CAN):
            return self.address
        return f"{self.kind.value}://{self.address}"


def parse_endpoint(url: str, *, baudrate: int | None = None) -> Endpoint:
    """Return the endpoint a URL names.

    Raises ValueError with a sentence a user can act on when the URL is not
    usable.
    """
    text = url.strip()
    if not text:
        raise ValueError("no address given")
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if not scheme and _HOST_AND_PORT.fullmatch(text):
        raise ValueError(f"{text} needs a scheme; accepted: {ACCEPTED}")
    if scheme in (LinkKind.TCP.value, LinkKind.RTU_OVER_TCP.value):
        parts = urlsplit(text)
        if not parts.hostname:
            raise ValueError(f"no host in {url!r}; expected {scheme}://HOST:PORT")
        try:
            port = parts.port or DEFAULT_MODBUS_PORT
        except ValueError as err:
            raise ValueError(f"invalid port in {url!r}") from err
        host = parts.hostname.lower()
        if ":" in host:  # an IPv6 literal keeps its brackets
            host = f"[{host}]"
        return Endpoint(LinkKind(scheme), f"{host}:{port}")
    if scheme and scheme not in ("socket", "rfc2217", "loop", "spy", "hwgrep"):
        raise ValueError(f"unknown scheme {scheme!r} in {url!r}; accepted: {ACCEPTED}")
    if baudrate is not None and baudrate <= 0:
        raise ValueError(f"invalid baud rate {baudrate}")
    return Endpoint(
        LinkKind.SERIAL,
        text,
        SerialSettings(baudrate=baudrate or DEFAULT_BAUDRATE),
    )
