"""Battery management systems: on RS485/UART (Pylontech, JK PB, Daly), on CAN.

Each family has a protocol module (framing, checksums and parsers, pure
functions over bytes, so they can be tested against captures) and a driver
module (a ``Driver`` on a shared ``SerialLink``). ``common`` holds what they
share.
"""

from .daly import DalyBms
from .jk import JkPbBms
from .pylontech import PylontechStack
from .pylontech_can import PylontechCanBattery

__all__ = ["DalyBms", "JkPbBms", "PylontechCanBattery", "PylontechStack"]
