"""Simulated battery management systems on a TCP socket, as ser2net serves one.

Each emulator answers from a ``Site``'s battery:

- ``PylontechStackEmulator`` (``pylontech``): a stack of N packs at
  consecutive addresses, the site battery split evenly over them (capacity
  and current);
- ``JkPbEmulator`` (``jk``): a JK PB BMS;
- ``DalyEmulator`` (``daly``): a Daly smart BMS;
- ``PylontechCanEmulator`` (``pylontech_can``): a battery broadcasting the
  Pylontech CAN frames, served as an slcan adapter on a TCP socket (and on
  any python-can bus).

Each is a ``BmsEmulator`` (``common``, with what they share), a
``SerialPeer``: an async context manager (``async with ... as bms``) with
``.port``, ``.url``, the bus ``address`` a driver is given and a
``description``; ``silent`` (``silent_packs`` for the stack) makes it stop
answering. ``EMULATORS`` builds one by family id, for ``eo simulate``.
"""

from collections.abc import Callable, Mapping

from eo_lab.sim.devices.bms.common import BmsEmulator
from eo_lab.sim.devices.bms.daly import DalyEmulator
from eo_lab.sim.devices.bms.jk import JkPbEmulator
from eo_lab.sim.devices.bms.pylontech import PylontechStackEmulator
from eo_lab.sim.devices.bms.pylontech_can import PylontechCanEmulator

type EmulatorFactory = Callable[..., BmsEmulator | PylontechCanEmulator]

# The BMS emulators by family id: ``EMULATORS[family](site, sync=..., host=...,
# port=...)`` builds one, ``async with`` serves it at ``.url``; each has an
# ``address`` (the unit a driver is given) and a ``description``.
EMULATORS: Mapping[str, EmulatorFactory] = {
    "pylontech": PylontechStackEmulator,
    "jk_pb": JkPbEmulator,
    "daly": DalyEmulator,
    "pylontech_can": PylontechCanEmulator,
}

__all__ = [
    "EMULATORS",
    "DalyEmulator",
    "JkPbEmulator",
    "PylontechCanEmulator",
    "PylontechStackEmulator",
]
