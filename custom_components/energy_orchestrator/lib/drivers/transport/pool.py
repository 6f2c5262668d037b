"""Links handed out per bus: raw serial ports, and the lab's Modbus links.

A serial port opens once, so the devices on one RS485 bus (BMS boards,
Pylontech packs) share the one ``SerialLink`` a ``SerialLinkPool`` keeps for
it; Home Assistant's side keeps one such pool, and so does the lab.

Under Home Assistant, Modbus units come from its shared connections
(``device/links.py``). Outside it, a ``LinkPool`` opens one connection of
its own per gateway or bus with the same library (``eo probe``, the
benchmarks, the tests): the one thing those need that Home Assistant would
otherwise do.
"""

from typing import Protocol

from ..errors import LinkSettingsConflictError
from .endpoint import Endpoint, LinkKind
from .link import Link
from .modbus import DEFAULT_TIMEOUT, ModbusLink
from .serial_link import DEFAULT_TIMEOUT as SERIAL_TIMEOUT, SerialLink


class Links(Protocol):
    """Where a driver gets its link: Home Assistant's side, or the lab's pool."""

    def acquire_modbus(self, endpoint: Endpoint) -> ModbusLink:
        """Return the Modbus link for an endpoint's bus."""
        ...

    def acquire_serial(self, endpoint: Endpoint) -> SerialLink:
        """Return the raw serial link for a port."""
        ...


def serial_settings_conflict(held: Endpoint, wanted: Endpoint) -> str | None:
    """Return why a port held at ``held`` cannot serve ``wanted``, if it cannot."""
    if held.serial != wanted.serial:
        return (
            f"{wanted.address} is already in use at other line settings"
            f" ({held.serial}); one bus runs at one baud rate"
        )
    return None


def protocol_conflict(address: str) -> LinkSettingsConflictError:
    """Return the error for a bus asked to carry a second protocol."""
    return LinkSettingsConflictError(
        f"{address} is already in use by a device speaking another protocol;"
        " one bus carries one protocol"
    )


class SerialLinkPool:
    """Hands out one raw serial link per port, shared and reference-counted."""

    def __init__(self, *, timeout: float | None = None) -> None:
        """Start with no links; ``timeout`` overrides each link's default."""
        self._timeout = SERIAL_TIMEOUT if timeout is None else timeout
        self._links: dict[tuple[LinkKind, str], SerialLink] = {}
        self._users: dict[tuple[LinkKind, str], int] = {}

    def holds(self, address: str) -> bool:
        """Return whether a port is open here (for a Modbus bus to refuse it)."""
        return (LinkKind.SERIAL, address) in self._links

    def acquire(self, endpoint: Endpoint) -> SerialLink:
        """Return the link of a port, refusing other line settings on it."""
        key = endpoint.bus_key
        if (link := self._links.get(key)) is None:
            link = self._links[key] = SerialLink(endpoint, timeout=self._timeout)
        elif (
            conflict := serial_settings_conflict(link.endpoint, endpoint)
        ) is not None:
            raise LinkSettingsConflictError(conflict)
        self._users[key] = self._users.get(key, 0) + 1
        return link

    async def release(self, link: SerialLink) -> None:
        """Give a link back; the last user closes it."""
        key = link.endpoint.bus_key
        self._users[key] -= 1
        if self._users[key] <= 0:
            del self._users[key]
            del self._links[key]
            await link.close()

    @property
    def links(self) -> list[SerialLink]:
        """Return the links in use."""
        return list(self._links.values())


class LinkPool:
    """The lab's links: a Modbus connection of its own per bus, and serial ports."""

    def __init__(self, *, timeout: float | None = None) -> None:
        """Start with no links; ``timeout`` overrides each link's default."""
        self._timeout = timeout
        self._serial = SerialLinkPool(timeout=timeout)
        self._modbus: dict[tuple[LinkKind, str], ModbusLink] = {}
        self._users: dict[tuple[LinkKind, str], int] = {}

    def acquire_modbus(self, endpoint: Endpoint) -> ModbusLink:
        """Return the Modbus link for an endpoint's bus."""
        key = endpoint.bus_key
        if self._serial.holds(endpoint.address):
            raise protocol_conflict(endpoint.address)
        if (link := self._modbus.get(key)) is None:
            link = self._modbus[key] = ModbusLink.standalone(
                endpoint,
                timeout=DEFAULT_TIMEOUT if self._timeout is None else self._timeout,
            )
        elif (
            conflict := serial_settings_conflict(link.endpoint, endpoint)
        ) is not None:
            raise LinkSettingsConflictError(conflict)
        self._users[key] = self._users.get(key, 0) + 1
        return link

    def acquire_serial(self, endpoint: Endpoint) -> SerialLink:
        """Return the raw serial link for a port."""
        if endpoint.bus_key in self._modbus:
            raise protocol_conflict(endpoint.address)
        return self._serial.acquire(endpoint)

    async def release(self, link: Link) -> None:
        """Give a link back; the last user closes it."""
        if isinstance(link, SerialLink):
            await self._serial.release(link)
            return
        key = link.endpoint.bus_key
        self._users[key] -= 1
        if self._users[key] <= 0:
            del self._users[key]
            del self._modbus[key]
            await link.close()

    @property
    def links(self) -> list[Link]:
        """Return the links in use."""
        return [*self._modbus.values(), *self._serial.links]
