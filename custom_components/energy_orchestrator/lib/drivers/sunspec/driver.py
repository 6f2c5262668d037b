"""The SunSpec driver: any device that maps its registers the SunSpec way.

SMA, Fronius, SolarEdge, FIMER, Kostal, Huawei (with SunSpec enabled) and
many other inverters, meters and batteries answer SunSpec. Identification
finds the ``SunS`` marker, walks the model chain, reads every model it has a
definition for, and from them learns who the device is (model 1), what it
measures (the canonical keys its models give, see ``mapping``), which
sub-devices it has (one per module of model 160, per meter model, per
battery model) and which commands it takes (``controls``).

A poll reads each due model in as few requests as the device allows (125
registers a request; longer models take several), decodes it with the
official definition and maps it. A model is read at the fast cadence when
it gives any fast key, else at the slow one; models that give no key
(pricing 125, the volt-var curves 126) are read at identification only.

An inverter asleep at night either answers with "not implemented" values
(SMA: the keys are absent) or does not answer at all: a silent device raises
DeviceSilentError, which the coordinator reports once. A sub-device model
that fails (a meter behind the inverter that does not answer) goes into
``Poll.failed`` under that sub-device; the others are read all the same.
"""

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, field
import time
from typing import ClassVar

from ..base import MAIN, Driver, Poll, SubDevice, SubDeviceKind
from ..cadence import Cadence
from ..commands import Command, CommandKind, CommandRejectedError
from ..errors import (
    DeviceError,
    DeviceSilentError,
    LinkError,
    WrongDeviceError,
)
from ..registers import RegisterTable
from ..transport.modbus import ModbusLink
from ..values import Identity, sub_device_key
from .chain import SUNS_MARKER, ModelBlock, find_base, walk_chain
from .codec import GroupValues, decode_model
from .controls import PowerLimitControl, StoragePowerControl
from .definitions import ModelDef, model_definition
from .mapping import (
    EXPORT_POSITIVE_METERS,
    MAIN_KEYS,
    ROLES,
    KeyMap,
    Role,
    key_maps,
)

# A controller that stops re-issuing a limit leaves it for at most this long.
DEFAULT_REVERT_TIMEOUT_S = 600
_MPPT_GROUP = "module"
# What an MPPT module of model 160 is: one PV input and its tracker.
MPPT_MODEL = "MPP tracker"
_MPPT_READINGS = ("DCA", "DCV", "DCW")

type Control = PowerLimitControl | StoragePowerControl


@dataclass(frozen=True, slots=True)
class PolledModel:
    """A model the driver polls, where its values go and what they are.

    ``parts`` names the part each set of values belongs to: one entry
    (MAIN or a sub-device key) for most models, one per module for model
    160 (None for a module left out).
    """

    block: ModelBlock
    definition: ModelDef
    maps: tuple[KeyMap, ...]
    parts: tuple[str | None, ...]
    keys: frozenset[str]
    cadence: Cadence

    @property
    def is_mppt(self) -> bool:
        """Return whether the model's values come per MPPT module."""
        return self.definition.id == 160

    @property
    def sub_parts(self) -> list[str]:
        """Return the parts of the model that are sub-devices."""
        return [part for part in self.parts if part]


def _key(part: str, key: str) -> str:
    """Return the full key of a value of a part."""
    return key if part == MAIN else sub_device_key(part, key)


class SunSpecDriver(Driver):
    """Any SunSpec device: inverters, meters, batteries."""

    family: ClassVar[str] = "sunspec"
    manufacturer: ClassVar[str] = "SunSpec"
    model: ClassVar[str] = "SunSpec device"
    keys: ClassVar[tuple[str, ...]] = MAIN_KEYS
    max_registers: ClassVar[int] = 125
    link: ModbusLink

    def __init__(
        self,
        link: ModbusLink,
        unit: int,
        *,
        wall_clock: Callable[[], float] = time.time,
        revert_timeout_s: int = DEFAULT_REVERT_TIMEOUT_S,
    ) -> None:
        """Bind the driver to a unit on a link; ``async_identify`` comes next."""
        super().__init__(wall_clock=wall_clock)
        self.link = link
        self.unit = unit
        self.revert_timeout_s = revert_timeout_s
        self.base_address: int | None = None
        self.chain: list[ModelBlock] = []
        self.polled: list[PolledModel] = []
        self.export_positive_meters = False
        # Pricing (125) and volt-var (126) as read at identification.
        self.grid_code_settings: dict[int, dict[str, object]] = {}
        self._keys: set[str] = set()
        self._derived_pv_power = False
        self._controls: dict[CommandKind, Control] = {}
        # Models the device listed but would not give, by address.
        self.unreadable: dict[int, str] = {}
        self.identity: Identity | None = None

    # Reading registers and models.

    async def _read(self, address: int, count: int) -> list[int]:
        """Read holding registers, in as few requests as the device allows."""
        words: list[int] = []
        for start in range(address, address + count, self.max_registers):
            size = min(self.max_registers, address + count - start)
            words.extend(
                await self.link.read_registers(
                    self.unit, RegisterTable.HOLDING, start, size
                )
            )
        return words

    async def read_model(self, block: ModelBlock) -> GroupValues:
        """Read a model and decode it with its definition."""
        definition = model_definition(block.model_id)
        if definition is None:
            raise ValueError(f"no definition of SunSpec model {block.model_id}")
        return decode_model(definition, await self._read(block.address, block.count))

    async def write_registers(self, address: int, words: Sequence[int]) -> None:
        """Write holding registers of the device."""
        await self.link.write_registers(self.unit, address, words)

    # Identification.

    async def async_identify(self) -> Identity:
        """Find the map, walk the chain, read every model and learn the device.

        Asked again (after a reconnect, and now and then), it reads the
        marker and the common model where they were; the same device there
        keeps what was learned, so sub-devices and keys do not come and go
        with what an inverter happens to implement at night.

        Raises WrongDeviceError when the unit has no SunSpec map or no
        common model, DeviceSilentError when it does not answer.
        """
        if (known := await self._identify_again()) is not None:
            return known
        self.base_address = await find_base(self._read)
        self.chain = await walk_chain(self._read, self.base_address)
        decoded = await self._read_known_models()
        commons = [values for block, values in decoded if block.model_id == 1]
        if not commons:
            raise WrongDeviceError(
                f"unit {self.unit} has a SunSpec map without a common model (1)"
            )
        identity = _identity(commons[0])
        if not identity.serial_number:
            raise WrongDeviceError(
                f"unit {self.unit} reports no serial number in its common model"
            )
        self.export_positive_meters = (
            identity.manufacturer.strip().lower() in EXPORT_POSITIVE_METERS
        )
        self._learn([entry for entry in decoded if entry[1] is not commons[0]])
        self.identity = identity
        return identity

    async def _identify_again(self) -> Identity | None:
        """Return the identity if the device learned before is still there."""
        common = next((b for b in self.chain if b.model_id == 1), None)
        if self.identity is None or self.base_address is None or common is None:
            return None
        try:
            marker = await self._read(self.base_address, len(SUNS_MARKER))
            if tuple(marker) != SUNS_MARKER:
                return None
            identity = _identity(await self.read_model(common))
        except DeviceSilentError, LinkError:
            raise
        except DeviceError:
            # Something else answers there now: learn it from scratch.
            return None
        return identity if identity == self.identity else None

    async def _read_known_models(self) -> list[tuple[ModelBlock, GroupValues]]:
        """Read every model of the chain the driver maps.

        A model the device refuses to give (an exception answer, a short
        answer) is left out and listed in ``unreadable``; silence is the
        device going away and is raised.
        """
        decoded: list[tuple[ModelBlock, GroupValues]] = []
        self.unreadable = {}
        for block in self.chain:
            if block.model_id not in ROLES or model_definition(block.model_id) is None:
                continue
            try:
                decoded.append((block, await self.read_model(block)))
            except DeviceSilentError, LinkError:
                raise
            except DeviceError as err:
                self.unreadable[block.address] = str(err)
        return decoded

    def _learn(self, decoded: Sequence[tuple[ModelBlock, GroupValues]]) -> None:
        """Learn sub-devices, keys and commands from the models after model 1."""
        self.polled = []
        self._keys = set()
        self._controls = {}
        self.grid_code_settings = {}
        roles = {ROLES[block.model_id] for block, _ in decoded}
        # A meter or a battery on its own (a Fronius smart meter on unit
        # 200) is the device itself; beside an inverter it is a sub-device.
        parts = _PartNamer(main_taken=Role.INVERTER in roles)
        # One list: the MPPT trackers join it in model order, as found.
        self.sub_devices = parts.sub_devices
        for block, values in decoded:
            role = ROLES[block.model_id]
            if role is Role.COMMON:
                # A common model after the device's own describes the next sub-device.
                parts.pending = values
                continue
            if role in (Role.PRICING, Role.VOLT_VAR):
                # Shown in diagnostics; no key, nothing polled.
                self.grid_code_settings[block.model_id] = values.as_plain()
                continue
            self._learn_control(block, values)
            part = parts.part_of(role)
            maps = key_maps(role, export_positive_meter=self.export_positive_meters)
            if role is Role.CONTROLS and Role.DER_CONTROLS in roles:
                # The limit is read where it is set: 704 (see _learn_control).
                maps = ()
            if not maps:
                continue
            if block.model_id == 160:
                self._learn_mppts(block, values, maps)
            else:
                keys = frozenset(
                    _key(part, key_map.key)
                    for key_map in maps
                    if key_map.available(values)
                )
                self._add_polled(block, maps, (part,), keys)
        mppt_power = {key for key in self._keys if key.endswith("/pv_power")}
        self._derived_pv_power = "pv_power" not in self._keys and bool(mppt_power)
        if self._derived_pv_power:
            self._keys.add("pv_power")
        self.commands = {kind: control.spec for kind, control in self._controls.items()}

    def _learn_mppts(
        self, block: ModelBlock, values: GroupValues, maps: tuple[KeyMap, ...]
    ) -> None:
        """Make a sub-device of each MPPT module that measures something.

        A module whose current, voltage and power are all "not implemented"
        is an input the inverter does not have (an SMA Sunny Boy 3.6 lists
        six, two of them real). When no module measures anything at all the
        inverter is asleep, and every module is kept.
        """
        modules = values.groups.get(_MPPT_GROUP, [])
        active = [
            any(module.get(name) is not None for name in _MPPT_READINGS)
            for module in modules
        ]
        asleep = not any(active)
        parts: list[str | None] = []
        keys: set[str] = set()
        for index, module in enumerate(modules):
            if not (active[index] or asleep):
                parts.append(None)
                continue
            part = f"mppt{len(self.sub_devices_of('mppt')) + 1}"
            label = module.get("IDStr")
            name = label if isinstance(label, str) else f"MPPT {index + 1}"
            self.sub_devices.append(
                SubDevice(part, name, model=MPPT_MODEL, kind=SubDeviceKind.PV)
            )
            parts.append(part)
            keys.update(
                _key(part, key_map.key)
                for key_map in maps
                if asleep or key_map.available(module)
            )
        self._add_polled(block, maps, tuple(parts), frozenset(keys))

    def sub_devices_of(self, prefix: str) -> list[SubDevice]:
        """Return the sub-devices whose key starts with ``prefix``."""
        return [sub for sub in self.sub_devices if sub.key.startswith(prefix)]

    def _add_polled(
        self,
        block: ModelBlock,
        maps: tuple[KeyMap, ...],
        parts: tuple[str | None, ...],
        keys: frozenset[str],
    ) -> None:
        """Poll a model from now on, if it gives any key."""
        if not keys:
            return
        given = {key.rpartition("/")[2] for key in keys}
        cadence = (
            Cadence.FAST
            if any(m.cadence is Cadence.FAST and m.key in given for m in maps)
            else Cadence.SLOW
        )
        self.polled.append(
            PolledModel(block, _definition(block), maps, parts, keys, cadence)
        )
        self._keys.update(keys)

    def _learn_control(self, block: ModelBlock, values: GroupValues) -> None:
        """Learn the commands a model offers."""
        if block.model_id in (123, 704):
            control = PowerLimitControl.from_values(
                block, values, self.revert_timeout_s
            )
            # 704 is the newer model: it wins over 123 on a device with both.
            current = self._controls.get(CommandKind.ACTIVE_POWER_LIMIT)
            if control is not None and not (
                isinstance(current, PowerLimitControl) and current.block.model_id == 704
            ):
                self._controls[CommandKind.ACTIVE_POWER_LIMIT] = control
        elif block.model_id == 124:
            for storage in StoragePowerControl.from_values(
                block, values, self.revert_timeout_s
            ):
                self._controls[storage.kind] = storage

    def available_keys(self) -> set[str]:
        """Return the keys this device has, sub-devices included."""
        return set(self._keys)

    # Polling.

    async def async_poll(self, due: Collection[Cadence]) -> Poll:
        """Read the due models; a failing sub-device does not stop the others.

        The device itself not answering (a model of its own times out, or
        the link is down) raises: there is nothing to show.
        """
        poll = Poll()
        mppt_power: list[float] | None = None
        for model in self.polled:
            if model.cadence not in due:
                continue
            poll.attempted.update(model.keys)
            if model.is_mppt and self._derived_pv_power:
                poll.attempted.add("pv_power")
            try:
                values = await self.read_model(model.block)
            except LinkError:
                raise
            except DeviceError as err:
                own = MAIN in model.parts
                if own and isinstance(err, DeviceSilentError):
                    raise
                # A model of its own it refuses (an exception answer) only
                # blanks that model's keys.
                for part in [MAIN] if own else model.sub_parts:
                    poll.failed[part] = err
                continue
            if model.is_mppt:
                mppt_power = self._poll_mppts(model, values, poll)
            else:
                self._poll_values(model, values, model.parts[0] or MAIN, poll)
        if (
            self._derived_pv_power
            and mppt_power is not None
            and (reading := self._reading("pv_power", sum(mppt_power))) is not None
        ):
            poll.readings["pv_power"] = reading
        return poll

    def _poll_values(
        self, model: PolledModel, values: GroupValues, part: str, poll: Poll
    ) -> None:
        """Turn one part's decoded values into readings."""
        for key_map in model.maps:
            key = _key(part, key_map.key)
            if key not in model.keys:
                continue
            if (reading := self._reading(key, key_map.read(values))) is not None:
                poll.readings[key] = reading

    def _poll_mppts(
        self, model: PolledModel, values: GroupValues, poll: Poll
    ) -> list[float] | None:
        """Read every kept module; return their PV powers if all have one."""
        powers: list[float] = []
        complete = True
        modules = values.groups.get(_MPPT_GROUP, [])
        for index, part in enumerate(model.parts):
            if part is None:
                continue
            if index >= len(modules):
                complete = False
                continue
            self._poll_values(model, modules[index], part, poll)
            reading = poll.readings.get(sub_device_key(part, "pv_power"))
            if reading is None or isinstance(reading.value, str):
                complete = False
            else:
                powers.append(reading.value)
        return powers if complete and powers else None

    # Commands.

    def _control(self, command: Command) -> Control:
        """Return the control that carries out a command."""
        control = self._controls.get(command.kind)
        if control is None or command.target not in (None, MAIN):
            raise CommandRejectedError(
                f"this device does not take {command.kind} commands"
            )
        return control

    async def async_apply(self, command: Command) -> None:
        """Write a checked command to the device."""
        assert not isinstance(command.value, str)
        await self._control(command).apply(self, float(command.value))

    async def async_read_back(self, command: Command) -> float | str:
        """Read back the setting a command changed."""
        return await self._control(command).read_back(self)

    async def async_release(self, kind: CommandKind) -> bool:
        """Disable a limit or a storage rate: the inverter's own settings rule."""
        control = self._controls.get(kind)
        if control is None:
            return False
        await control.release(self)
        return True

    def diagnostics(self) -> Mapping[str, object]:
        """Return the map the driver found and how it reads it."""
        return {
            "unit": self.unit,
            "base_address": self.base_address,
            "models": [
                {
                    "id": block.model_id,
                    "address": block.address,
                    "length": block.length,
                    "decoded": model_definition(block.model_id) is not None,
                }
                for block in self.chain
            ],
            "polled": [
                {
                    "id": model.block.model_id,
                    "cadence": model.cadence.name.lower(),
                    "requests": -(-model.block.count // self.max_registers),
                    "keys": sorted(model.keys),
                }
                for model in self.polled
            ],
            "unreadable": self.unreadable,
            "grid_code_settings": self.grid_code_settings,
            "meters_count_export_positive": self.export_positive_meters,
            "commands": sorted(self.commands),
            "link": str(self.link.endpoint),
            "link_stats": asdict(self.link.stats),
        }


def _definition(block: ModelBlock) -> ModelDef:
    """Return the definition of a model the driver knows."""
    definition = model_definition(block.model_id)
    assert definition is not None
    return definition


def _identity(common: GroupValues) -> Identity:
    """Return who a common model says the device is."""

    def text(name: str) -> str:
        value = common.get(name)
        return value if isinstance(value, str) else ""

    return Identity(
        manufacturer=text("Mn") or "SunSpec",
        model=text("Md") or "SunSpec device",
        serial_number=text("SN"),
        firmware=text("Vr") or None,
    )


def _sub_device(
    part: str, name: str, kind: SubDeviceKind, common: GroupValues | None
) -> SubDevice:
    """Return a meter or battery sub-device, with its common model if any.

    Without one, its model is unknown: the SunSpec model's label ("Battery
    Base Model") says how it is described, not what it is.
    """
    if common is None:
        return SubDevice(part, name, kind=kind)
    identity = _identity(common)
    return SubDevice(
        part,
        name,
        manufacturer=identity.manufacturer,
        model=identity.model,
        serial_number=identity.serial_number or None,
        firmware=identity.firmware,
        kind=kind,
    )


@dataclass
class _PartNamer:
    """Names the part of the device each model after model 1 describes."""

    # Whether the device itself is taken (by an inverter, or a first meter
    # or battery); later meters and batteries are sub-devices.
    main_taken: bool
    counters: dict[str, int] = field(default_factory=dict)
    # The common model read just before: it describes the next sub-device.
    pending: GroupValues | None = None
    # The battery a following bank model belongs to.
    last_battery: str | None = None
    sub_devices: list[SubDevice] = field(default_factory=list)

    def part_of(self, role: Role) -> str:
        """Return the part a model of ``role`` describes; add a sub-device if new."""
        if role is Role.BATTERY_STRING:
            # A string is always a part of the battery bank it is in.
            index = self._next("string")
            part = f"string{index}"
            self.sub_devices.append(
                SubDevice(part, f"Battery string {index}", kind=SubDeviceKind.BATTERY)
            )
            return part
        if role is Role.BATTERY_BANK and self.last_battery is not None:
            return self.last_battery
        if role not in (Role.METER, Role.BATTERY, Role.BATTERY_BANK):
            return MAIN
        if not self.main_taken:
            self.main_taken = True
            if role is not Role.METER:
                self.last_battery = MAIN
            return MAIN
        prefix = "meter" if role is Role.METER else "battery"
        index = self._next(prefix)
        part = f"{prefix}{index}"
        name = f"{prefix.capitalize()} {index}"
        kind = SubDeviceKind.METER if role is Role.METER else SubDeviceKind.BATTERY
        self.sub_devices.append(_sub_device(part, name, kind, self.pending))
        self.pending = None
        if role is not Role.METER:
            self.last_battery = part
        return part

    def _next(self, prefix: str) -> int:
        """Return the next index of a sub-device of this kind, from 1."""
        index = self.counters[prefix] = self.counters.get(prefix, 0) + 1
        return index
