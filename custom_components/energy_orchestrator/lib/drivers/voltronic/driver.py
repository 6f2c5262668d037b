"""The Voltronic PI30 driver: Axpert, MKS II, VM and the inverters built on them.

One inverter answers on one serial port (RS232 at 2400 baud 8N1, or USB
serial, or ser2net as ``socket://host:port``); there is no bus address, so
the ``unit`` a family is built with is kept for diagnostics and otherwise
ignored.

Identification asks QPI and refuses anything that does not name PI30 in the
protocol's syntax (``WrongDeviceError``): a PI16 or PI18 inverter answers
other layouts to the same queries, a device of another kind answers no PI
frame at all. The serial number comes from QID (QSID where QID is refused),
the firmware from QVFW, the model from QMN where the inverter knows it, else
from its ratings (QPIRI), else "PI30 inverter". QGMN's numeric model code is
kept for diagnostics. The commands and their limits follow from QPIRI (the
battery's rating) and QMCHGCR (the charging currents it takes).

Polling: QPIGS (live values), QMOD (mode) and QPIWS (warnings) at the fast
cadence, QPIRI (settings) and QFLAG (flags) at the slow one. QPIGS is the
device answering or not: its failure is the poll's. The others are extras:
a NAK marks the query as one this firmware does not have (until the next
identification), any other failure leaves its values absent for this poll.
"""

from collections.abc import Callable, Collection, Mapping
from dataclasses import asdict
import logging
import time
from typing import ClassVar

from ..base import Driver, Poll
from ..cadence import Cadence
from ..commands import Command, CommandKind, CommandRejectedError
from ..errors import (
    BadResponseError,
    DeviceError,
    DeviceSilentError,
    LinkError,
    WrongDeviceError,
)
from ..transport.serial_link import SerialLink
from ..values import Identity
from .codec import ACK, NakError, decode_response, encode_request, frame_end
from .mapping import (
    MODE_KEY,
    RATING_KEYS,
    STATUS_KEYS,
    mode_value,
    number,
    rating_values,
    status_values,
)
from .queries import (
    DEVICE_STATUS_BITS,
    QPIGS,
    QPIRI,
    FieldValue,
    InverterMode,
    Warnings,
    flags_set,
    parse_current_options,
    parse_fields,
    parse_firmware,
    parse_flags,
    parse_long_serial_number,
    parse_mode,
    parse_model_code,
    parse_model_name,
    parse_protocol_id,
    parse_serial_number,
    parse_warnings,
)
from .settings import (
    DEFAULT_CHARGE_CURRENTS,
    OPTION_SETTINGS,
    VOLTAGE_SETTINGS,
    charge_current_requests,
    command_specs,
    read_back_field,
)

_LOGGER = logging.getLogger(__name__)

PROTOCOL_ID = "PI30"
DEFAULT_BAUDRATE = 2400
# A query the firmware may not have: an inverter that knows it answers
# within a few hundred milliseconds; one that does not may stay silent.
_OPTIONAL_ANSWER_WITHIN = 1.0

type Parser[T] = Callable[[str], T]


class VoltronicPI30(Driver):
    """A Voltronic inverter speaking PI30 on a serial port."""

    family: ClassVar[str] = "voltronic_pi30"
    manufacturer: ClassVar[str] = "Voltronic Power"
    model: ClassVar[str] = "PI30 inverter"
    keys: ClassVar[tuple[str, ...]] = (*STATUS_KEYS, MODE_KEY, *RATING_KEYS)
    raw_queries: ClassVar[tuple[str, ...]] = ("QPIGS", "QPIRI", "QID", "QMOD", "QVFW")
    link: SerialLink

    def __init__(
        self,
        link: SerialLink,
        unit: int = 0,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """Bind the driver to the inverter on a serial link.

        ``unit`` is ignored: a PI30 inverter has no bus address.
        """
        super().__init__(wall_clock=wall_clock)
        self.link = link
        self.unit = unit
        self.identity: Identity | None = None
        self.protocol_id: str | None = None
        self.model_code: str | None = None
        # Queries this firmware answered NAK to, since the last identification.
        self.unsupported: set[str] = set()
        self.last_errors: dict[str, str] = {}
        self.ratings: dict[str, FieldValue] = {}
        self.device_status: dict[str, bool] = {}
        self.warnings: Warnings | None = None
        self.flags: dict[str, bool] = {}
        self.charge_currents: tuple[int, ...] = ()
        # The charging current setter this firmware took last (MNCHGC or MCHGC).
        self._charge_current_setter: str | None = None

    async def _query(self, command: str, *, answer_within: float | None = None) -> str:
        """Send a command and return the payload of its checked answer."""
        frame = await self.link.transact(
            encode_request(command), frame_end, answer_within=answer_within
        )
        return decode_response(frame, command)

    async def _optional[T](self, command: str, parse: Parser[T]) -> T | None:
        """Ask a query the firmware may lack; return None when it does.

        A NAK or silence marks the query unsupported; a bad answer is noted.
        Only a lost link raises.
        """
        try:
            return parse(
                await self._query(command, answer_within=_OPTIONAL_ANSWER_WITHIN)
            )
        except (NakError, DeviceSilentError) as err:
            self.unsupported.add(command)
            self.last_errors[command] = str(err)
        except BadResponseError as err:
            self.last_errors[command] = str(err)
        return None

    async def async_identify(self) -> Identity:
        """Check the protocol, read who the inverter is and what it takes."""
        self.unsupported.clear()
        self.protocol_id = await self._read_protocol_id()
        serial_number = await self._read_serial_number()
        firmware = await self._optional("QVFW", parse_firmware)
        model_name = await self._optional("QMN", parse_model_name)
        self.model_code = await self._optional("QGMN", parse_model_code)
        self.ratings = dict(await self._read_ratings_at_identify())
        self.charge_currents = (
            await self._optional("QMCHGCR", parse_current_options)
            or DEFAULT_CHARGE_CURRENTS
        )
        # Every setting is confirmed by reading QPIRI back: without it,
        # nothing can be commanded.
        self.commands = (
            command_specs(
                number(self.ratings.get("battery_rating_voltage")),
                self.charge_currents,
            )
            if self.ratings
            else {}
        )
        self.identity = Identity(
            manufacturer=self.manufacturer,
            model=model_name or self._model_from_ratings(),
            serial_number=serial_number,
            firmware=firmware,
        )
        return self.identity

    async def _read_protocol_id(self) -> str:
        """Return the protocol id; raise WrongDeviceError unless it is PI30.

        A garbled answer is asked once more before the device is called
        another kind: one bad frame on a long line proves nothing.
        """
        for attempt in range(2):
            try:
                protocol_id = parse_protocol_id(await self._query("QPI"))
                break
            except NakError as err:
                raise WrongDeviceError(
                    f"{self.link.endpoint} refuses QPI (NAK); a PI30 inverter"
                    " names its protocol"
                ) from err
            except BadResponseError as err:
                if attempt:
                    raise WrongDeviceError(
                        f"{self.link.endpoint} does not answer QPI in the PI30"
                        f" protocol's syntax: {err}"
                    ) from err
        if protocol_id != PROTOCOL_ID:
            raise WrongDeviceError(
                f"{self.link.endpoint} speaks {protocol_id}, not {PROTOCOL_ID}"
            )
        return protocol_id

    async def _read_serial_number(self) -> str:
        """Return the serial number from QID, or QSID where QID is refused."""
        try:
            return parse_serial_number(await self._query("QID"))
        except NakError:
            pass
        long_serial = await self._optional("QSID", parse_long_serial_number)
        if long_serial is None:
            raise WrongDeviceError(
                f"{self.link.endpoint} answers PI30 but gives no serial number"
                " (QID and QSID refused)"
            )
        return long_serial

    async def _read_ratings_at_identify(self) -> Mapping[str, FieldValue]:
        """Return QPIRI's fields, or none when the firmware lacks QPIRI.

        A garbled answer is asked once more: without QPIRI no command can be
        offered until the next identification.
        """
        for _ in range(2):
            ratings = await self._optional("QPIRI", _parse_ratings)
            if ratings is not None:
                return ratings
            if "QPIRI" in self.unsupported:
                break
        return {}

    def _model_from_ratings(self) -> str:
        """Return a model name from the ratings: "PI30 inverter 5000 VA 48 V"."""
        apparent = number(self.ratings.get("ac_output_rating_apparent_power"))
        battery = number(self.ratings.get("battery_rating_voltage"))
        if apparent is None or battery is None:
            return self.model
        return f"{self.model} {apparent:g} VA {battery:g} V"

    def available_keys(self) -> set[str]:
        """Return the keys of the queries this firmware answers."""
        keys = set(self.keys)
        if "QPIRI" in self.unsupported:
            keys -= set(RATING_KEYS)
        if {"QMOD", "QPIWS"} <= self.unsupported:
            keys.discard(MODE_KEY)
        return keys

    async def async_poll(self, due: Collection[Cadence]) -> Poll:
        """Read the queries whose cadence is due.

        Raises the QPIGS error when the inverter does not answer it, and a
        LinkError whenever the port fails; other queries that fail leave
        their keys absent.
        """
        poll = Poll()
        if Cadence.FAST in due:
            await self._poll_status(poll)
            await self._poll_mode(poll)
        if Cadence.SLOW in due:
            await self._poll_settings(poll)
        return poll

    def _put(self, poll: Poll, values: Mapping[str, float | str | None]) -> None:
        """Record values: every key attempted, the valid ones read."""
        for key, value in values.items():
            poll.attempted.add(key)
            if (reading := self._reading(key, value)) is not None:
                poll.readings[key] = reading

    async def _poll_status(self, poll: Poll) -> None:
        """Read QPIGS; its failure is the poll's."""
        status = parse_fields(await self._query("QPIGS"), QPIGS)
        self.device_status = flags_set(status.get("device_status"), DEVICE_STATUS_BITS)
        self._put(poll, status_values(status))

    async def _extra[T](self, command: str, parse: Parser[T]) -> T | None:
        """Ask a query beside QPIGS; return None when it fails.

        A lost link raises: nothing else will answer either.
        """
        if command in self.unsupported:
            return None
        try:
            return parse(await self._query(command))
        except NakError as err:
            self.unsupported.add(command)
            self.last_errors[command] = str(err)
            _LOGGER.info("%s: %s is not supported", self.link.endpoint, command)
        except LinkError:
            raise
        except DeviceError as err:
            self.last_errors[command] = str(err)
            _LOGGER.debug("%s: %s failed: %s", self.link.endpoint, command, err)
        return None

    async def _poll_mode(self, poll: Poll) -> None:
        """Read QMOD and QPIWS; a fault bit makes the mode "fault"."""
        mode: InverterMode | None = await self._extra("QMOD", parse_mode)
        self.warnings = await self._extra("QPIWS", parse_warnings)
        self._put(poll, {MODE_KEY: mode_value(mode, self.warnings)})

    async def _poll_settings(self, poll: Poll) -> None:
        """Read QPIRI and QFLAG."""
        if "QPIRI" not in self.unsupported:
            ratings = await self._extra("QPIRI", _parse_ratings)
            if ratings is not None:
                self.ratings = dict(ratings)
            self._put(poll, rating_values(ratings or {}))
        flags = await self._extra("QFLAG", parse_flags)
        if flags is not None:
            self.flags = flags

    async def async_query(self, query: str) -> dict[str, tuple[float | str, str]]:
        """Ask a PI30 query by its name; return its decoded fields.

        QPIGS and QPIRI give their fields by name with units; QID gives
        ``serial_number``, QMOD ``mode`` and QVFW ``firmware``.
        """
        if query not in self.raw_queries:
            raise CommandRejectedError(f"this device answers no {query} query")
        payload = await self._query(query)
        if query in ("QPIGS", "QPIRI"):
            layout = QPIGS if query == "QPIGS" else QPIRI
            units = {field.name: field.unit for field in layout.fields}
            return {
                name: (value, units.get(name, ""))
                for name, value in parse_fields(payload, layout).items()
                if value is not None
            }
        if query == "QID":
            return {"serial_number": (parse_serial_number(payload), "")}
        if query == "QMOD":
            return {"mode": (str(parse_mode(payload)), "")}
        return {"firmware": (parse_firmware(payload), "")}

    async def async_apply(self, command: Command) -> None:
        """Send a setter; raise NakError (a DeviceRejectedError) on NAK."""
        kind = command.kind
        if kind not in self.commands:
            raise CommandRejectedError(f"this inverter does not take {kind} commands")
        value = command.value
        if kind in OPTION_SETTINGS:
            await self._set(OPTION_SETTINGS[kind].request(str(value)))
        elif kind in VOLTAGE_SETTINGS and isinstance(value, float | int):
            await self._set(VOLTAGE_SETTINGS[kind].request(value))
        elif kind is CommandKind.BATTERY_CHARGE_CURRENT and isinstance(
            value, float | int
        ):
            await self._set_charge_current(value)
        else:
            raise CommandRejectedError(f"{kind} cannot be {value!r}")

    async def _set(self, request: str) -> None:
        """Send one setter and insist on ACK."""
        payload = await self._query(request)
        if payload.strip() != ACK:
            raise BadResponseError(f"{request} was answered {payload!r}, not ACK")

    async def _set_charge_current(self, amperes: float) -> None:
        """Set the maximum charging current with the setter the firmware takes.

        Nothing is sent for a current the inverter does not list.
        """
        if amperes not in self.charge_currents:
            raise CommandRejectedError(
                f"{amperes:g} A is not a charging current this inverter takes"
                f" ({', '.join(str(a) for a in self.charge_currents)} A)"
            )
        requests = charge_current_requests(int(amperes))
        known = self._charge_current_setter
        requests.sort(key=lambda request: not (known and request.startswith(known)))
        refused: NakError | None = None
        for request in requests:
            try:
                await self._set(request)
            except NakError as err:
                refused = err
                continue
            self._charge_current_setter = request.rstrip("0123456789")
            return
        assert refused is not None
        raise NakError(" and ".join(requests)) from refused

    async def async_read_back(self, command: Command) -> float | str:
        """Read the setting a command changes from QPIRI."""
        if command.kind not in self.commands:
            raise CommandRejectedError(
                f"this inverter does not take {command.kind} commands"
            )
        ratings = _parse_ratings(await self._query("QPIRI"))
        self.ratings = dict(ratings)
        field = read_back_field(command.kind)
        value = ratings.get(field)
        if value is None:
            raise BadResponseError(f"QPIRI holds no {field}")
        return value

    def diagnostics(self) -> Mapping[str, object]:
        """Return what the driver learned about the inverter, for support."""
        return {
            "unit_ignored": self.unit,
            "link": str(self.link.endpoint),
            "link_stats": asdict(self.link.stats),
            "protocol_id": self.protocol_id,
            "identity": asdict(self.identity) if self.identity else None,
            "model_code": self.model_code,
            "ratings": self.ratings,
            "charge_currents": list(self.charge_currents),
            "charge_current_setter": self._charge_current_setter,
            "device_status": self.device_status,
            "warnings": list(self.warnings.active) if self.warnings else None,
            "warning_bits": self.warnings.bits if self.warnings else None,
            "flags": self.flags,
            "unsupported_queries": sorted(self.unsupported),
            "last_errors": self.last_errors,
        }


def _parse_ratings(payload: str) -> Mapping[str, FieldValue]:
    """Return the fields of a QPIRI answer."""
    return parse_fields(payload, QPIRI)
