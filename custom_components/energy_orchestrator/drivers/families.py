"""The device families this integration can talk to, by family id."""

from collections.abc import Mapping

from .base import ModbusDriver
from .eastron import SDM630

MODBUS_FAMILIES: Mapping[str, type[ModbusDriver]] = {
    driver.family: driver for driver in (SDM630,)
}
