"""Constants for the Energy Orchestrator integration."""

from datetime import timedelta
import logging
from typing import Final

from .drivers.cadence import Cadence

DOMAIN: Final = "energy_orchestrator"
LOGGER = logging.getLogger(__package__)

CONF_FAMILY: Final = "family"
CONF_UNIT_ID: Final = "unit_id"
CONF_BAUDRATE: Final = "baudrate"
CONF_FRAMING: Final = "framing"
# The JSON register map of a device of the generic family.
CONF_REGISTER_MAP: Final = "register_map"

TYPE_TCP: Final = "tcp"
TYPE_SERIAL: Final = "serial"

# How frames travel to a networked device: plain Modbus TCP, or RTU frames
# through a transparent RS485 gateway.
FRAMING_TCP: Final = "tcp"
FRAMING_RTU_OVER_TCP: Final = "rtu-over-tcp"

DEFAULT_PORT: Final = 502
DEFAULT_UNIT_ID: Final = 1
# Eastron meters leave the factory at 9600 baud.
DEFAULT_BAUDRATE: Final = 9600

# A meter's power moves fast and reading it is cheap: every 5 s keeps peak
# shaving and the Energy dashboard current without loading a shared bus.
SCAN_INTERVAL: Final = timedelta(seconds=Cadence.FAST)
# Counters and settings: read once a minute, or along with a fast read that
# covers them anyway.
SLOW_INTERVAL: Final = timedelta(seconds=Cadence.SLOW)

# The serial number is read again this often, and after every reconnect: an
# address can come to point at another device (a swapped meter, a changed
# unit id), and its values must not be shown as this one's.
IDENTITY_CHECK_INTERVAL: Final = timedelta(minutes=10)
