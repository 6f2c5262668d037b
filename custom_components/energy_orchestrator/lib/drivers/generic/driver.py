"""The driver that reads a Modbus device by its user's register map."""

from collections.abc import Callable, Mapping
import time
from typing import ClassVar

from ..base import ModbusDriver, SubDevice
from ..errors import DeviceRejectedError, WrongDeviceError
from ..registers import Point, ReadPlanner
from ..transport.modbus import ModbusLink
from ..values import Identity, Reading, quantity_of
from .register_map import RegisterMap, RegisterText


class GenericModbus(ModbusDriver):
    """A Modbus device read by a user's register map."""

    family: ClassVar[str] = "generic"
    manufacturer: ClassVar[str] = "Generic"
    model: ClassVar[str] = "Modbus device"
    points: ClassVar[tuple[Point, ...]] = ()
    keys: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        link: ModbusLink,
        unit: int,
        register_map: RegisterMap,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """Bind the map to a unit on a link."""
        super().__init__(link, unit, wall_clock=wall_clock)
        self.register_map = register_map
        self.planner = ReadPlanner(
            register_map.points, max_registers=register_map.max_registers
        )

    async def _read_text(self, source: str | RegisterText, what: str) -> str:
        """Return fixed text, or read it from the device."""
        if isinstance(source, str):
            return source
        try:
            registers = await self.link.read_registers(
                self.unit, source.table, source.address, source.count
            )
        except DeviceRejectedError as err:
            raise WrongDeviceError(
                f"unit {self.unit} has no {what} register at {source.address}"
                f" as the map says ({err})"
            ) from err
        return source.decode(registers)

    async def async_identify(self) -> Identity:
        """Read the serial number and check that the map's registers answer.

        A map cannot prove what a device is; a device that answers none of
        the map's points is surely not the one it describes.
        """
        register_map = self.register_map
        serial = await self._read_text(register_map.serial, "serial number")
        if not serial or serial == "0":
            raise WrongDeviceError(f"unit {self.unit} reports no serial number")
        firmware = (
            await self._read_text(register_map.firmware, "firmware")
            if register_map.firmware is not None
            else None
        )
        await self.async_read_points()
        if self.planner.holes >= {p.key for p in register_map.points}:
            raise WrongDeviceError(
                f"unit {self.unit} answers none of the map's registers"
            )
        self.sub_devices = [
            SubDevice(key=name, name=name) for name in register_map.sub_devices
        ]
        return Identity(
            manufacturer=register_map.manufacturer,
            model=register_map.model,
            serial_number=serial,
            firmware=firmware or None,
        )

    def _reading(self, key: str, value: float | str | None) -> Reading | None:
        """Return a reading; an enumeration's raw value becomes its option."""
        options = self.register_map.options.get(key)
        if options is not None and isinstance(value, float):
            # A raw value the map does not name is "unknown" where the key
            # has that option, else absent.
            fallback = (
                "unknown" if "unknown" in (quantity_of(key).options or ()) else None
            )
            value = (
                options.get(int(value), fallback) if value.is_integer() else fallback
            )
        return super()._reading(key, value)

    def diagnostics(self) -> Mapping[str, object]:
        """Return the read plan, the holes, and the map's device."""
        return {
            **super().diagnostics(),
            "map": {
                "manufacturer": self.register_map.manufacturer,
                "model": self.register_map.model,
                "points": len(self.register_map.points),
            },
        }
