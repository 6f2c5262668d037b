"""A Pylontech battery stack (US2000, US3000, US5000 ...) on its RS485 port.

The stack's master pack answers at the address its DIP switches set (2 is
what inverters use, and this driver's default); the other packs of the stack
answer at the next addresses, one each, as Tomcat42/pylontech-python polls
them. Identification asks the master for every pack at once (0x42 with
COMMAND 0xFF, what an inverter asks) to learn how many packs the stack has;
polls then ask each pack on its own, so a pack that falls silent is one
failed sub-device and the others keep their values.

Each pack is a sub-device ``pack1``, ``pack2`` ...; the stack itself reports
the values over all packs:

- voltage: the mean of the packs' (they are in parallel);
- current, power, remaining and total capacity: sums, reported only when
  every pack answered (a sum over part of the stack would be a wrong value);
- state of charge: remaining over total capacity of the packs that answered;
- temperature and cell voltage extremes over the packs that answered;
- limits: the charge/discharge management info (0x92) each pack gives, the
  limits an inverter is asked to keep now: the lowest charge voltage, the
  highest discharge voltage, and the smallest pack current limit times the
  packs answering (packs share current about evenly, and the smallest
  share must not be exceeded). A stack without 0x92 gives the system
  parameters (0x47) instead: module high and low voltage and the current
  limits there.

Identity: the master's serial number (0x93); packs that do not give one get
a stable stand-in from what they report, ``<battery name>-<cells>S-<address>``
(``US2KBPL-15S-02``), which only changes when the stack does. Firmware
comes from the manufacturer info (0x51), per pack from 0x96.
"""

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict
import statistics
import time
from typing import ClassVar

from ..base import MAIN, Poll, SubDevice, SubDeviceKind
from ..cadence import Cadence
from ..errors import (
    BadResponseError,
    DeviceError,
    DeviceRejectedError,
    LinkError,
    WrongDeviceError,
)
from ..transport.serial_link import SerialLink
from ..values import Identity
from .common import SerialBmsDriver
from .pylontech_protocol import (
    ALL_PACKS,
    CID1_BATTERY,
    Cid2,
    ManagementInfo,
    ManufacturerInfo,
    PackAnalog,
    SystemParameters,
    decode_frame,
    encode_request,
    frame_end,
    parse_alarms,
    parse_analog,
    parse_management_info,
    parse_manufacturer_info,
    parse_serial_number,
    parse_software_version,
    parse_system_parameters,
    response_info,
)

DEFAULT_ADDRESS = 2
DEFAULT_BAUDRATE = 115200
# A pack answers a short query within tens of milliseconds; one that has not
# in a second does not know the command.
_OPTIONAL_ANSWER_WITHIN = 1.0
_NOT_SUPPORTED = 0x04
_MAX_PACKS = 16

ANALOG_KEYS: tuple[str, ...] = (
    "battery_voltage",
    "battery_current",
    "battery_power",
    "battery_soc",
    "battery_temperature",
    "cell_voltage_min",
    "cell_voltage_max",
    "battery_remaining_capacity",
    "battery_capacity",
)
PACK_ANALOG_KEYS: tuple[str, ...] = (*ANALOG_KEYS, "battery_cycles")
LIMIT_KEYS: tuple[str, ...] = (
    "battery_charge_voltage_limit",
    "battery_discharge_voltage_limit",
    "battery_charge_current_limit",
    "battery_discharge_current_limit",
)

type Parser[T] = Callable[[bytes], T]


def pack_values(pack: PackAnalog) -> dict[str, float | None]:
    """Return one pack's analog values under canonical keys."""
    return {
        "battery_voltage": pack.voltage,
        "battery_current": pack.current,
        "battery_power": pack.power,
        "battery_soc": pack.soc,
        "battery_temperature": pack.temperature,
        "cell_voltage_min": pack.cell_voltage_min,
        "cell_voltage_max": pack.cell_voltage_max,
        "battery_remaining_capacity": pack.remaining_capacity,
        "battery_capacity": pack.total_capacity,
        "battery_cycles": pack.cycles,
    }


def stack_values(
    packs: Sequence[PackAnalog], *, complete: bool
) -> dict[str, float | None]:
    """Return the stack's values over the packs that answered.

    ``complete`` says every pack answered; sums are only right then.
    """
    if not packs:
        return dict.fromkeys(ANALOG_KEYS)
    # Sums are rounded to the protocol's resolution, so adding up packs does
    # not show float noise (99.89999999999999 A).
    total = round(sum(pack.total_capacity for pack in packs), 3)
    remaining = round(sum(pack.remaining_capacity for pack in packs), 3)
    lows = [v for pack in packs if (v := pack.cell_voltage_min) is not None]
    highs = [v for pack in packs if (v := pack.cell_voltage_max) is not None]
    temperatures = [t for pack in packs if (t := pack.temperature) is not None]
    return {
        "battery_voltage": statistics.fmean(pack.voltage for pack in packs),
        "battery_current": (
            round(sum(p.current for p in packs), 1) if complete else None
        ),
        "battery_power": round(sum(p.power for p in packs), 3) if complete else None,
        "battery_soc": 100 * remaining / total if total > 0 else None,
        "battery_temperature": max(temperatures, default=None),
        "cell_voltage_min": min(lows, default=None),
        "cell_voltage_max": max(highs, default=None),
        "battery_remaining_capacity": remaining if complete else None,
        "battery_capacity": total if complete else None,
    }


def management_values(info: ManagementInfo) -> dict[str, float | None]:
    """Return one pack's limits under canonical keys."""
    return {
        "battery_charge_voltage_limit": info.charge_voltage_limit,
        "battery_discharge_voltage_limit": info.discharge_voltage_limit,
        "battery_charge_current_limit": info.charge_current_limit,
        "battery_discharge_current_limit": info.discharge_current_limit,
    }


def stack_limits(infos: Sequence[ManagementInfo]) -> dict[str, float | None]:
    """Return the stack's limits: the tightest pack's, currents times packs."""
    if not infos:
        return dict.fromkeys(LIMIT_KEYS)
    return {
        "battery_charge_voltage_limit": min(i.charge_voltage_limit for i in infos),
        "battery_discharge_voltage_limit": max(
            i.discharge_voltage_limit for i in infos
        ),
        "battery_charge_current_limit": round(
            len(infos) * min(i.charge_current_limit for i in infos), 1
        ),
        "battery_discharge_current_limit": round(
            len(infos) * min(i.discharge_current_limit for i in infos), 1
        ),
    }


def system_limits(parameters: SystemParameters) -> dict[str, float | None]:
    """Return the stack's limits from its system parameters (0x47)."""
    return {
        "battery_charge_voltage_limit": parameters.module_high_voltage,
        "battery_discharge_voltage_limit": parameters.module_low_voltage,
        "battery_charge_current_limit": parameters.charge_current_limit,
        "battery_discharge_current_limit": parameters.discharge_current_limit,
    }


class PylontechStack(SerialBmsDriver):
    """A Pylontech stack: its master at ``unit``, packs at the next addresses."""

    family: ClassVar[str] = "pylontech"
    manufacturer: ClassVar[str] = "Pylontech"
    model: ClassVar[str] = "Battery stack (RS485)"
    keys: ClassVar[tuple[str, ...]] = (*ANALOG_KEYS, *LIMIT_KEYS)
    sub_device_keys: ClassVar[tuple[str, ...]] = (*PACK_ANALOG_KEYS, *LIMIT_KEYS)

    def __init__(
        self,
        link: SerialLink,
        unit: int = DEFAULT_ADDRESS,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """Bind the driver to the stack whose master is at ``unit``."""
        super().__init__(link, unit, wall_clock=wall_clock)
        self.pack_addresses: dict[str, int] = {}
        self.protocol_version: int | None = None
        self.manufacturer_info: ManufacturerInfo | None = None
        self.system_parameters: SystemParameters | None = None
        self.alarms: dict[str, list[str]] = {}
        # Commands the stack answered with "not supported": not asked again.
        self.unsupported: set[Cid2] = set()

    async def _ask(
        self,
        address: int,
        cid2: Cid2,
        info: bytes = b"",
        *,
        answer_within: float | None = None,
    ) -> bytes:
        """Send a command to a pack and return its answer's INFO."""
        raw = await self.link.transact(
            encode_request(address, cid2, info),
            frame_end,
            answer_within=answer_within,
        )
        try:
            return response_info(raw, address)
        except DeviceRejectedError as err:
            if err.code == _NOT_SUPPORTED:
                self.unsupported.add(cid2)
            raise

    async def _optional[T](
        self,
        address: int,
        cid2: Cid2,
        parse: Parser[T],
        info: bytes = b"",
        *,
        identity: bool = False,
    ) -> T | None:
        """Ask for something not every stack has; None when it does not.

        For what the identity is made of (``identity``), only a refusal
        means "does not have it": a lost or damaged answer raises, since
        taking it for "none" would change the identity and look like
        another device.
        """
        if cid2 in self.unsupported:
            return None
        try:
            return parse(
                await self._ask(
                    address,
                    cid2,
                    info,
                    answer_within=min(self.link.timeout, _OPTIONAL_ANSWER_WITHIN),
                )
            )
        except DeviceRejectedError:
            return None
        except LinkError:
            raise
        except DeviceError:
            if identity:
                raise
            return None

    async def async_identify(self) -> Identity:
        """Check the master speaks the protocol; find the packs and their serials.

        Raises WrongDeviceError when something answers, but not with a
        Pylontech frame from this address.
        """
        raw = await self.link.transact(
            encode_request(self.unit, Cid2.PROTOCOL_VERSION), frame_end
        )
        try:
            frame = decode_frame(raw)
        except BadResponseError as err:
            raise WrongDeviceError(
                f"address {self.unit} does not answer in Pylontech's protocol: {err}"
            ) from err
        if frame.cid1 != CID1_BATTERY or frame.address != self.unit:
            raise WrongDeviceError(
                f"a device of type {frame.cid1:02X} at address {frame.address}"
                f" answered, not a battery at address {self.unit}"
            )
        self.protocol_version = frame.version
        self.unsupported.clear()
        self.manufacturer_info = await self._optional(
            self.unit, Cid2.MANUFACTURER_INFO, parse_manufacturer_info, identity=True
        )
        packs = await self._find_packs()
        self.pack_addresses = {
            f"pack{index}": self.unit + index - 1 for index in range(1, len(packs) + 1)
        }
        manufacturer, model = self._names()
        self.sub_devices = []
        for part, address in self.pack_addresses.items():
            command = bytes([address])
            self.sub_devices.append(
                SubDevice(
                    key=part,
                    name=f"Pack {part.removeprefix('pack')}",
                    manufacturer=manufacturer,
                    model=model,
                    serial_number=await self._optional(
                        address,
                        Cid2.SERIAL_NUMBER,
                        parse_serial_number,
                        command,
                        identity=address == self.unit,
                    ),
                    firmware=await self._optional(
                        address, Cid2.SOFTWARE_VERSION, parse_software_version, command
                    ),
                    kind=SubDeviceKind.BATTERY,
                )
            )
        self.commands = {}
        serial = self.sub_devices[0].serial_number or (
            f"{model}-{len(packs[0].cell_voltages)}S-{self.unit:02X}"
        )
        return Identity(
            manufacturer=manufacturer,
            model=model,
            serial_number=serial,
            firmware=(
                self.manufacturer_info.software_version
                if self.manufacturer_info
                else self.sub_devices[0].firmware
            ),
        )

    def _names(self) -> tuple[str, str]:
        """Return the manufacturer and model the master reports, or the family's."""
        info = self.manufacturer_info
        if info is None:
            return self.manufacturer, "Pylontech battery"
        # Pylontech packs call their maker "Pylon"; others name themselves.
        maker = info.manufacturer
        if not maker or maker.lower().startswith("pylon"):
            maker = self.manufacturer
        return maker, info.battery_name

    async def _find_packs(self) -> list[PackAnalog]:
        """Return the analog values of every pack, to count them.

        A master that refuses COMMAND 0xFF is asked for itself alone: the
        stack is then one pack. A lost answer raises instead: counting the
        stack short would drop the other packs' sub-devices.
        """
        try:
            packs = parse_analog(
                await self._ask(self.unit, Cid2.ANALOG, bytes([ALL_PACKS])),
                all_packs=True,
            )
        except DeviceRejectedError:
            packs = []
        self.unsupported.discard(Cid2.ANALOG)
        if not packs:
            packs = parse_analog(
                await self._ask(self.unit, Cid2.ANALOG, bytes([self.unit])),
                all_packs=False,
            )
        return packs[:_MAX_PACKS]

    async def async_poll(self, due: Collection[Cadence]) -> Poll:
        """Read each pack's analog values (fast), limits and alarms (slow).

        A pack that does not answer goes into ``failed``; the link failing
        raises.
        """
        poll = Poll()
        if Cadence.FAST in due:
            await self._poll_analog(poll)
        if Cadence.SLOW in due:
            await self._poll_limits(poll)
            await self._poll_alarms(poll)
        return poll

    async def _per_pack[T](
        self, poll: Poll, cid2: Cid2, parse: Parser[T]
    ) -> dict[str, T]:
        """Ask every pack not failed yet; failures go into ``poll.failed``."""
        answers: dict[str, T] = {}
        for part, address in self.pack_addresses.items():
            if part in poll.failed or cid2 in self.unsupported:
                continue
            try:
                answers[part] = parse(await self._ask(address, cid2, bytes([address])))
            except LinkError:
                raise
            except DeviceRejectedError as err:
                if err.code != _NOT_SUPPORTED:
                    poll.failed[part] = err
            except DeviceError as err:
                poll.failed[part] = err
        return answers

    async def _poll_analog(self, poll: Poll) -> None:
        """Read every pack's analog values and sum up the stack."""
        packs = await self._per_pack(poll, Cid2.ANALOG, _single_pack)
        for part in self.pack_addresses:
            if part in packs:
                self._put(poll, part, pack_values(packs[part]))
            else:
                self._attempt(poll, part, PACK_ANALOG_KEYS)
        complete = len(packs) == len(self.pack_addresses)
        self._put(poll, MAIN, stack_values(list(packs.values()), complete=complete))

    async def _poll_limits(self, poll: Poll) -> None:
        """Read the limits each pack asks for, or the stack's system parameters."""
        infos = await self._per_pack(poll, Cid2.MANAGEMENT_INFO, parse_management_info)
        for part in self.pack_addresses:
            if part in infos:
                self._put(poll, part, management_values(infos[part]))
            elif Cid2.MANAGEMENT_INFO not in self.unsupported:
                self._attempt(poll, part, LIMIT_KEYS)
        if Cid2.MANAGEMENT_INFO not in self.unsupported:
            self._put(poll, MAIN, stack_limits(list(infos.values())))
            return
        self.system_parameters = await self._optional(
            self.unit, Cid2.SYSTEM_PARAMETERS, parse_system_parameters
        )
        if self.system_parameters is not None:
            self._put(poll, MAIN, system_limits(self.system_parameters))
        else:
            self._attempt(poll, MAIN, LIMIT_KEYS)

    async def _poll_alarms(self, poll: Poll) -> None:
        """Read which alarms each pack has on, for diagnostics."""
        alarms = await self._per_pack(poll, Cid2.ALARMS, _single_pack_alarms)
        self.alarms.update(alarms)

    def diagnostics(self) -> Mapping[str, object]:
        """Return the packs found, what the master reports, and alarms on."""
        return {
            **super().diagnostics(),
            "protocol_version": (
                None
                if self.protocol_version is None
                else f"{self.protocol_version >> 4}.{self.protocol_version & 0xF}"
            ),
            "manufacturer_info": (
                asdict(self.manufacturer_info) if self.manufacturer_info else None
            ),
            "packs": {
                sub.key: {
                    "address": self.pack_addresses.get(sub.key),
                    "serial_number": sub.serial_number,
                    "firmware": sub.firmware,
                    "alarms": self.alarms.get(sub.key, []),
                }
                for sub in self.sub_devices
            },
            "system_parameters": (
                asdict(self.system_parameters) if self.system_parameters else None
            ),
            "unsupported_commands": sorted(f"{c:02X}" for c in self.unsupported),
        }


def _single_pack(info: bytes) -> PackAnalog:
    """Return the one pack of a single-pack 0x42 answer."""
    return parse_analog(info, all_packs=False)[0]


def _single_pack_alarms(info: bytes) -> list[str]:
    """Return the alarms on in a single-pack 0x44 answer."""
    return parse_alarms(info, all_packs=False)[0].active()
