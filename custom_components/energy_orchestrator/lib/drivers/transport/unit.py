"""A Modbus unit as the drivers' link sees one: the interface, not a client.

The connection behind a unit (one per gateway or serial bus) belongs to
whoever hands the units out: Home Assistant's ``modbus`` integration, which
shares it with every integration talking to the same device, or the lab's
own ``modbus-connection`` connections (``eo``, the benchmarks, the tests).
It serialises the requests, reconnects, paces and times them out; a unit
only sends one request at a time on it.

``modbus_connection.ModbusUnit`` (what Home Assistant's
``async_get_unit`` returns) has these methods, so it is one of these.
Coils are left out: no family reads or writes any.
"""

from collections.abc import Awaitable, Callable
from typing import Protocol


class ModbusUnit(Protocol):
    """One device address on a shared Modbus connection.

    Its methods raise ``modbus_connection``'s errors; ``ModbusLink`` maps
    them to the drivers' own.
    """

    @property
    def connected(self) -> bool:
        """Return whether the connection under the unit is open right now."""
        ...

    async def read_holding_registers(self, address: int, count: int) -> list[int]:
        """Read holding registers (function 3)."""
        ...

    async def read_input_registers(self, address: int, count: int) -> list[int]:
        """Read input registers (function 4)."""
        ...

    async def write_registers(self, address: int, values: list[int]) -> None:
        """Write holding registers (function 16)."""
        ...

    def set_message_spacing(self, seconds: float) -> None:
        """Keep the connection quiet for ``seconds`` around this unit's requests."""

    def require_timeout(self, seconds: float | None) -> None:
        """Ask the connection for a per-request timeout of at least ``seconds``."""

    def on_connection_lost(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` when the connection drops; return the unsubscribe."""
        ...


# Returns the unit at a Modbus address on the link's connection, taking a
# hold on it; raises LinkSettingsConflictError when the connection is held
# at other line settings.
type UnitSource = Callable[[int], Awaitable[ModbusUnit]]
