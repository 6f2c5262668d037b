"""One link per bus, handed out to every device on it.

A gateway that takes one client, or a serial port that opens once, serves
every device behind it through the one link this pool keeps for it.
"""

from collections.abc import Callable

from ..errors import LinkSettingsConflictError
from .endpoint import Endpoint, LinkKind
from .link import Link
from .modbus import ModbusLink
from .serial_link import SerialLink


class LinkPool:
    """Hands out one link per bus, shared and reference-counted."""

    def __init__(self, *, timeout: float | None = None) -> None:
        """Start with no links; ``timeout`` overrides each link's default."""
        self._timeout = timeout
        self._links: dict[tuple[LinkKind, str], Link] = {}
        self._users: dict[tuple[LinkKind, str], int] = {}

    def acquire_modbus(self, endpoint: Endpoint) -> ModbusLink:
        """Return the Modbus link for an endpoint's bus."""
        return self._acquire(endpoint, ModbusLink, self._modbus)

    def acquire_serial(self, endpoint: Endpoint) -> SerialLink:
        """Return the raw serial link for a port."""
        return self._acquire(endpoint, SerialLink, self._serial)

    # Kept for the devices that speak Modbus, which is most of them.
    acquire = acquire_modbus

    def _modbus(self, endpoint: Endpoint) -> ModbusLink:
        """Build a Modbus link."""
        if self._timeout is None:
            return ModbusLink(endpoint)
        return ModbusLink(endpoint, timeout=self._timeout)

    def _serial(self, endpoint: Endpoint) -> SerialLink:
        """Build a raw serial link."""
        if self._timeout is None:
            return SerialLink(endpoint)
        return SerialLink(endpoint, timeout=self._timeout)

    def _acquire[L: Link](
        self, endpoint: Endpoint, kind: type[L], build: Callable[[Endpoint], L]
    ) -> L:
        """Return the link of a bus, refusing a clash of protocol or settings."""
        key = endpoint.bus_key
        link = self._links.get(key)
        if link is None:
            link = build(endpoint)
            self._links[key] = link
        elif not isinstance(link, kind):
            raise LinkSettingsConflictError(
                f"{endpoint.address} is already in use by a device speaking"
                " another protocol; one bus carries one protocol"
            )
        elif link.endpoint.serial != endpoint.serial:
            raise LinkSettingsConflictError(
                f"{endpoint.address} is already in use at other line settings"
                f" ({link.endpoint.serial}); one bus runs at one baud rate"
            )
        self._users[key] = self._users.get(key, 0) + 1
        return link

    async def release(self, link: Link) -> None:
        """Give a link back; the last user closes it."""
        key = link.endpoint.bus_key
        self._users[key] -= 1
        if self._users[key] <= 0:
            del self._users[key]
            del self._links[key]
            await link.close()

    @property
    def links(self) -> list[Link]:
        """Return the links in use."""
        return list(self._links.values())
