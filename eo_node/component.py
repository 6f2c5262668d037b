"""One component of a node: its driver, its last values, and what it was told.

A component keeps the values of its last poll and says ``available: false``
with no values as soon as a poll fails: a stale value is never published as
current. Before the node first writes a setting, it reads the one in force,
so that the fail-safe can hand the device back as it found it. What was
written, and found, is its ledger: the node keeps it in its state file, so
that a restarted node still knows it.
"""

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
import logging
import math
from typing import Any

from custom_components.energy_orchestrator.lib.drivers.base import Driver, execute
from custom_components.energy_orchestrator.lib.drivers.cadence import Cadence
from custom_components.energy_orchestrator.lib.drivers.commands import (
    Command,
    CommandKind,
    CommandNotConfirmedError,
    CommandRejectedError,
    CommandSpec,
    check,
)
from custom_components.energy_orchestrator.lib.drivers.errors import DeviceError
from custom_components.energy_orchestrator.lib.drivers.values import (
    Identity,
    Reading,
    quantity_of,
)

from .config import ComponentConfig, SafeCommand
from .protocol import IDENTIFY, READ, RELEASE, ErrorCode, RequestError
from .state_file import Before

_LOGGER = logging.getLogger(__name__)

# How a setting the device cannot switch off itself is handed back, where
# the value it had before is not the safe one: a wallbox to its least.
_RELEASE_TO_MINIMUM = frozenset({CommandKind.CHARGER_CURRENT})
_RELEASE_TO_OFF = frozenset({CommandKind.CHARGER_ENABLED})


@dataclass(slots=True)
class Released:
    """What the fail-safe did to one setting: the value now, or why not."""

    command: str
    value: float | str | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return it for the ``failsafe`` event."""
        body: dict[str, Any] = {"command": self.command}
        if self.error is not None:
            body["error"] = self.error
        else:
            body["value"] = self.value
        return body


@dataclass(slots=True)
class _Written:
    """A setting the node wrote, and the value it found before (None: unknown)."""

    before: Before


def spec_dict(spec: CommandSpec) -> dict[str, Any]:
    """Return a command's limits as the config message lists them."""
    body: dict[str, Any] = {"unit": spec.unit}
    for name in ("minimum", "maximum", "step"):
        if (value := getattr(spec, name)) is not None:
            body[name] = value
    if spec.options is not None:
        body["options"] = list(spec.options)
    return body


def _value_of(reading: Reading) -> dict[str, Any]:
    """Return a reading as ``{value, unit}``."""
    return {"value": reading.value, "unit": str(reading.unit)}


class Component:
    """A device the node polls and commands, behind the bus's lock."""

    def __init__(
        self,
        config: ComponentConfig,
        driver: Driver,
        bus_lock: asyncio.Lock,
        clock: Callable[[], float],
        *,
        written: Mapping[CommandKind, Before] | None = None,
        ledger_changed: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Bind the driver; nothing is read before ``identify``.

        ``written`` is the ledger an earlier run left (its state file);
        ``ledger_changed`` is called whenever the ledger changes, before
        the device is written, so that the node can save it first.
        """
        self.config = config
        self.driver = driver
        self._lock = bus_lock
        self._clock = clock
        self.identity: Identity | None = None
        self.values: dict[str, Reading] = {}
        self.available = False
        self.error: str | None = None
        self._connects = -1
        self._slow_read_at = -math.inf
        self._written: dict[CommandKind, _Written] = {
            kind: _Written(before) for kind, before in (written or {}).items()
        }
        self._ledger_changed = ledger_changed

    @property
    def id(self) -> str:
        """Return the component's id (its topic level)."""
        return self.config.id

    @property
    def written(self) -> set[CommandKind]:
        """Return the settings the node wrote since they were last released."""
        return set(self._written)

    @property
    def ledger(self) -> dict[CommandKind, Before]:
        """Return each setting written and the value found before it."""
        return {kind: written.before for kind, written in self._written.items()}

    async def _forget(self, kinds: list[CommandKind]) -> None:
        """Drop settings from the ledger once they are handed back."""
        forgotten = [k for k in kinds if self._written.pop(k, None) is not None]
        if forgotten:
            await self._note_ledger_change()

    async def _note_ledger_change(self) -> None:
        """Tell the node that the ledger changed."""
        if self._ledger_changed is not None:
            await self._ledger_changed()

    async def identify(self) -> Identity:
        """Read who the device is and what it takes; raise its DeviceError."""
        async with self._lock:
            identity = await self.driver.async_identify()
        self.identity = identity
        self._connects = self.driver.connects
        self._slow_read_at = -math.inf
        return identity

    @property
    def needs_identify(self) -> bool:
        """Return whether the device must be identified (again) before a poll."""
        return self.identity is None or self.driver.connects != self._connects

    async def poll(self) -> bool:
        """Read the values that are due; return whether the device answered."""
        now = self._clock()
        due = {Cadence.FAST}
        if now - self._slow_read_at >= Cadence.SLOW:
            due.add(Cadence.SLOW)
        try:
            async with self._lock:
                poll = await self.driver.async_poll(due)
        except DeviceError as err:
            self.mark_unavailable(str(err))
            return False
        if not poll.answered:
            self.mark_unavailable(str(next(iter(poll.failed.values()))))
            return False
        if Cadence.SLOW in due:
            self._slow_read_at = now
        for key in poll.attempted - poll.readings.keys():
            self.values.pop(key, None)
        self.values.update(poll.readings)
        self.available = True
        self.error = None
        return True

    def mark_unavailable(self, error: str) -> None:
        """Forget every value: none of them is current any more."""
        if self.available or self.error != error:
            _LOGGER.warning("%s: %s", self.id, error)
        self.available = False
        self.error = error
        self.values.clear()

    def current_values(self) -> dict[str, dict[str, Any]]:
        """Return the values of the last poll, by key."""
        return {key: _value_of(r) for key, r in sorted(self.values.items())}

    def describe(self) -> dict[str, Any]:
        """Return what the component is, for its retained config message."""
        identity = self.identity
        values: dict[str, dict[str, Any]] = {}
        for key in sorted(self.driver.available_keys()):
            try:
                quantity = quantity_of(key)
            except KeyError:
                continue
            entry: dict[str, Any] = {
                "unit": str(quantity.unit),
                "description": quantity.description,
            }
            if quantity.options is not None:
                entry["options"] = list(quantity.options)
            values[key] = entry
        return {
            "family": self.config.family,
            "manufacturer": identity.manufacturer if identity else None,
            "model": identity.model if identity else None,
            "serial": identity.serial_number if identity else None,
            "firmware": identity.firmware if identity else None,
            "interval": self.config.interval,
            "values": values,
            "commands": {
                str(kind): spec_dict(spec)
                for kind, spec in sorted(self.driver.commands.items())
            },
            "queries": list(self.driver.raw_queries),
            "sub_devices": [
                {
                    "key": sub.key,
                    "name": sub.name,
                    "model": sub.model,
                    "kind": str(sub.kind),
                }
                for sub in self.driver.sub_devices
            ],
        }

    async def handle(
        self, command: str, parameters: Mapping[str, Any], *, failsafe: bool
    ) -> dict[str, Any]:
        """Carry out one request's command; return its values or raise RequestError.

        A refused request changes nothing: limits are checked before the
        device is touched. While the fail-safe holds, settings are refused.
        """
        if self.identity is None:
            raise RequestError(
                ErrorCode.DEVICE_ERROR,
                f"{self.id} has not answered yet: {self.error or 'not identified'}",
            )
        if command == READ:
            if not await self.poll():
                raise RequestError(ErrorCode.DEVICE_ERROR, self.error or "no answer")
            return self.current_values()
        if command == IDENTIFY:
            return self._identify_values()
        if command == RELEASE:
            return await self._release_request(parameters)
        if command in self.driver.raw_queries:
            return await self._query(command)
        if command not in self.driver.commands:
            raise RequestError(ErrorCode.UNKNOWN_COMMAND, self._unknown(command))
        kind = CommandKind(command)
        if "value" not in parameters:
            raise RequestError(
                ErrorCode.BAD_REQUEST, f"{command} needs parameters.value"
            )
        target = parameters.get("target")
        if target is not None and not isinstance(target, str):
            raise RequestError(ErrorCode.BAD_REQUEST, "parameters.target must be text")
        order = Command(kind, parameters["value"], target)
        try:
            check(self.driver.commands.get(kind), order)
        except CommandRejectedError as err:
            raise RequestError(ErrorCode.OUT_OF_LIMITS, str(err)) from None
        if failsafe:
            raise RequestError(
                ErrorCode.FAILSAFE,
                "the node holds its safe state until the controller's heartbeat"
                " returns",
            )
        actual = await self.write(order)
        return {command: {"value": actual, "unit": self.driver.commands[kind].unit}}

    def _unknown(self, command: str) -> str:
        """Return the sentence for a command this component does not take."""
        known = [
            READ,
            IDENTIFY,
            RELEASE,
            *self.driver.commands,
            *self.driver.raw_queries,
        ]
        return f"{self.id} takes no {command!r} command; it takes {', '.join(known)}"

    def _identify_values(self) -> dict[str, Any]:
        """Return who the device said it is."""
        identity = self.identity
        if identity is None:
            raise RequestError(
                ErrorCode.DEVICE_ERROR, self.error or "not identified yet"
            )
        return {
            "family": {"value": self.config.family, "unit": ""},
            "manufacturer": {"value": identity.manufacturer, "unit": ""},
            "model": {"value": identity.model, "unit": ""},
            "serial": {"value": identity.serial_number, "unit": ""},
            "firmware": {"value": identity.firmware, "unit": ""},
        }

    async def _query(self, query: str) -> dict[str, Any]:
        """Ask a raw query of the device's protocol."""
        try:
            async with self._lock:
                fields = await self.driver.async_query(query)
        except DeviceError as err:
            raise RequestError(ErrorCode.DEVICE_ERROR, str(err)) from None
        return {
            name: {"value": value, "unit": unit}
            for name, (value, unit) in fields.items()
        }

    async def write(self, order: Command) -> float | str:
        """Write a checked setting, noting first what it was; return the read-back."""
        try:
            async with self._lock:
                if order.kind not in self._written:
                    self._written[order.kind] = _Written(await self._read_now(order))
                    # Saved before the device is written: a crash in between
                    # must leave a ledger that knows it.
                    await self._note_ledger_change()
                actual = await execute(self.driver, order)
        except CommandNotConfirmedError as err:
            raise RequestError(ErrorCode.NOT_CONFIRMED, str(err)) from None
        except CommandRejectedError as err:
            raise RequestError(ErrorCode.OUT_OF_LIMITS, str(err)) from None
        except DeviceError as err:
            raise RequestError(ErrorCode.DEVICE_ERROR, str(err)) from None
        return actual

    async def _read_now(self, order: Command) -> float | str | None:
        """Return the setting in force, None when it cannot be read."""
        try:
            value = await self.driver.async_read_back(order)
        except DeviceError as err:
            _LOGGER.warning(
                "%s: %s before the first write: %s", self.id, order.kind, err
            )
            return None
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    async def _release_request(self, parameters: Mapping[str, Any]) -> dict[str, Any]:
        """Release one setting (``parameters.command``) or every one written."""
        name = parameters.get("command")
        kinds = sorted(self._written)
        if name is not None:
            if name not in self.driver.commands:
                raise RequestError(ErrorCode.UNKNOWN_COMMAND, self._unknown(str(name)))
            kinds = [CommandKind(name)]
        results = [await self.release(kind) for kind in kinds]
        failed = [r for r in results if r.error is not None]
        if failed:
            raise RequestError(
                ErrorCode.DEVICE_ERROR,
                "; ".join(f"{r.command}: {r.error}" for r in failed),
            )
        return {
            r.command: {
                "value": r.value,
                "unit": self.driver.commands[CommandKind(r.command)].unit,
            }
            for r in results
        }

    async def release(self, kind: CommandKind) -> Released:
        """Hand one setting back to the device: switched off, least, or as found."""
        written = self._written.get(kind)
        spec = self.driver.commands.get(kind)
        if spec is None:
            if self.identity is None:
                # A restarted node whose device has not answered yet.
                return Released(str(kind), error=self.error or "not identified yet")
            return Released(str(kind), error="the device no longer takes it")
        try:
            async with self._lock:
                if await self.driver.async_release(kind):
                    value = await self.driver.async_read_back(Command(kind, 0))
                else:
                    value = await self._restore(kind, spec, written)
        except DeviceError as err:
            return Released(str(kind), error=str(err))
        except ValueError as err:
            return Released(str(kind), error=str(err))
        await self._forget([kind])
        return Released(str(kind), value)

    async def _restore(
        self, kind: CommandKind, spec: CommandSpec, written: _Written | None
    ) -> float | str:
        """Write the safe value of a setting the device cannot switch off."""
        if kind in _RELEASE_TO_MINIMUM and spec.minimum is not None:
            value: float | str = spec.minimum
        elif kind in _RELEASE_TO_OFF and spec.options and "off" in spec.options:
            value = "off"
        elif written is not None and written.before is not None:
            value = written.before
        else:
            raise ValueError("the value it had before the node wrote it is unknown")
        return await execute(self.driver, Command(kind, value))

    async def apply_safe_action(
        self, commands: tuple[SafeCommand, ...] | None
    ) -> list[Released]:
        """Apply the configured commands, or release every setting written.

        Once a fixed command set is all written, the ledger is cleared: the
        set is the installer's safe state for the whole component.
        """
        if commands is None:
            return [await self.release(kind) for kind in sorted(self._written)]
        results: list[Released] = []
        for safe in commands:
            try:
                async with self._lock:
                    value = await execute(
                        self.driver, Command(safe.command, safe.value)
                    )
            except DeviceError as err:
                results.append(Released(str(safe.command), error=str(err)))
                continue
            results.append(Released(str(safe.command), value))
        if all(result.error is None for result in results):
            await self._forget(list(self._written))
        return results
