"""A component of a remote node (``eo node``), driven over MQTT as if it were local.

The driver is built from the component's retained config message and fed
the node's messages (config, state, response, the node's status) by whoever
holds the MQTT subscription; it publishes requests through a callable it is
given. So it never imports an MQTT client: inside Home Assistant the
messages go through Home Assistant's own MQTT integration.

A poll returns the last state message's values, never older ones: a
component whose node is offline, that says ``available: false``, or whose
state stopped coming (three intervals and a margin) raises
DeviceSilentError. A command is a request, and its response, matched by
``request_id``, is the read-back; no response within the timeout is a
DeviceError (the node may or may not have carried it out).
"""

import asyncio
from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import UTC, datetime
import json
import math
import time
from typing import Any, override
import uuid

from .base import Driver, Poll, SubDevice, SubDeviceKind
from .cadence import Cadence
from .commands import (
    Command,
    CommandKind,
    CommandNotConfirmedError,
    CommandRejectedError,
    CommandSpec,
)
from .errors import DeviceError, DeviceSilentError
from .values import (
    QUANTITIES,
    SUB_DEVICE_SEPARATOR,
    Identity,
    Reading,
    make_reading,
)

# The protocol's default prefix, and how long a request waits for its response.
DEFAULT_PREFIX = "energy_orchestrator"
RESPONSE_TIMEOUT_S = 10.0
# A component whose state has not come for this many intervals is stale.
STALE_INTERVALS = 3
STALE_MARGIN_S = 2.0
# A node that publishes no heartbeat_timeout runs the default of 30 s.
DEFAULT_HEARTBEAT_TIMEOUT_S = 30.0

type Publish = Callable[[str, str], Awaitable[None]]

# The node's error codes, by what they mean to the caller.
_REJECTED = frozenset(
    {"out_of_limits", "unknown_command", "failsafe", "stale", "bad_request"}
)
_NOT_CONFIRMED = frozenset({"not_confirmed"})

# What a sub-device is, by the prefix all of its values share.
_KIND_BY_PREFIX = {kind.value: kind for kind in SubDeviceKind if kind.value}


def utc_text(wall_clock: float) -> str:
    """Return a wall-clock time as the envelope's ISO 8601 UTC text."""
    moment = datetime.fromtimestamp(wall_clock, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: object, default: float) -> float:
    """Return an envelope time as wall-clock seconds; ``default`` if unreadable."""
    if not isinstance(text, str):
        return default
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return default
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def spec_from(kind: CommandKind, body: Mapping[str, Any]) -> CommandSpec:
    """Return a command's limits from its entry in a config message.

    The node confirms every setting against the device's own tolerance and
    answers ``not_confirmed`` when it is off, so the value its response
    carries is confirmed already: no second tolerance applies here.
    """
    options = body.get("options")

    def number(name: str) -> float | None:
        value = body.get(name)
        return float(value) if isinstance(value, int | float) else None

    return CommandSpec(
        kind,
        unit=str(body.get("unit", "")),
        minimum=number("minimum"),
        maximum=number("maximum"),
        step=number("step"),
        options=tuple(str(o) for o in options) if isinstance(options, list) else None,
        tolerance=math.inf,
    )


def _sub_device_kind(said: object, values: Collection[str]) -> SubDeviceKind:
    """Return what a sub-device is: as the node says, or by its values' prefix.

    A node older than the ``kind`` field leaves the values to tell.
    """
    if isinstance(said, str) and said in {kind.value for kind in SubDeviceKind}:
        return SubDeviceKind(said)
    own = [v.rpartition(SUB_DEVICE_SEPARATOR)[2] for v in values]
    for prefix, kind in _KIND_BY_PREFIX.items():
        if own and all(v.startswith(f"{prefix}_") for v in own):
            return kind
    return SubDeviceKind.OTHER


class RemoteDriver(Driver):
    """One component of a node, read from its state messages, commanded by request."""

    family = "remote"
    manufacturer = "Energy Orchestrator"
    model = "Remote component"
    keys = ()

    def __init__(
        self,
        prefix: str,
        node: str,
        config: Mapping[str, Any],
        publish: Publish,
        *,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        response_timeout: float = RESPONSE_TIMEOUT_S,
    ) -> None:
        """Describe the component from its config message."""
        super().__init__(wall_clock=wall_clock)
        self.prefix = prefix
        self.node = node
        self.comp = str(config["comp"])
        self._publish = publish
        self._monotonic = monotonic
        self.response_timeout = response_timeout
        self.config: Mapping[str, Any] = {}
        self.node_online = True
        self.broker_connected = True
        self.state: Mapping[str, Any] | None = None
        self.state_at: float | None = None
        # The node cleared the component's retained config: it is gone.
        self.removed = False
        self.pending: dict[str, asyncio.Future[Mapping[str, Any]]] = {}
        self._read_back: dict[CommandKind, float | str] = {}
        self.update_config(config)

    def topic(self, leaf: str) -> str:
        """Return one of the component's topics."""
        return f"{self.prefix}/{self.node}/{self.comp}/{leaf}"

    @property
    def remote_family(self) -> str:
        """Return the family the node reads the component with."""
        return str(self.config.get("family", "unknown"))

    @property
    def interval(self) -> float:
        """Return the node's poll interval of the component (s)."""
        interval = self.config.get("interval")
        return float(interval) if isinstance(interval, int | float) else 2.0

    @property
    def heartbeat_timeout(self) -> float:
        """Return the node's heartbeat timeout, as its config message says."""
        timeout = self.config.get("heartbeat_timeout")
        if isinstance(timeout, int | float) and timeout > 0:
            return float(timeout)
        return DEFAULT_HEARTBEAT_TIMEOUT_S

    def update_config(self, config: Mapping[str, Any]) -> None:
        """Take a (new) config message: values, commands, sub-devices."""
        self.config = config
        self.removed = False
        self._values = {
            key for key in config.get("values", {}) if self._is_canonical(key)
        }
        self.commands = {}
        for name, body in config.get("commands", {}).items():
            if name in CommandKind and isinstance(body, Mapping):
                self.commands[CommandKind(name)] = spec_from(CommandKind(name), body)
        self.sub_devices = []
        for sub in config.get("sub_devices", []):
            key = str(sub["key"])
            own = [
                v for v in self._values if v.startswith(f"{key}{SUB_DEVICE_SEPARATOR}")
            ]
            self.sub_devices.append(
                SubDevice(
                    key=key,
                    name=str(sub.get("name") or key),
                    model=sub.get("model"),
                    kind=_sub_device_kind(sub.get("kind"), own),
                )
            )

    @staticmethod
    def _is_canonical(key: str) -> bool:
        """Return whether a value's key is one of the value model's."""
        return key.rpartition(SUB_DEVICE_SEPARATOR)[2] in QUANTITIES

    @property
    @override
    def connects(self) -> int:
        """Return 0: the node checks its devices' identity itself."""
        return 0

    @override
    def available_keys(self) -> set[str]:
        """Return the keys the config message lists."""
        return set(self._values)

    @override
    async def async_identify(self) -> Identity:
        """Return who the node says the device is."""
        return self.identity

    @property
    def identity(self) -> Identity:
        """Return the device's identity from the config message."""
        config = self.config
        return Identity(
            manufacturer=str(config.get("manufacturer") or self.remote_family),
            model=str(config.get("model") or self.remote_family),
            serial_number=str(config.get("serial") or self.comp),
            firmware=config.get("firmware"),
        )

    def on_state(self, message: Mapping[str, Any]) -> None:
        """Take a state message; it is the component's value until the next."""
        self.state = message
        self.state_at = self._monotonic()

    def on_removed(self) -> None:
        """Take the node's word that the component left it (its config cleared)."""
        self.removed = True

    def on_status(self, payload: str) -> None:
        """Take the node's status: ``online``, or ``offline`` (its will)."""
        self.node_online = payload == "online"

    def on_broker(self, *, connected: bool) -> None:
        """Take whether the client is connected to the broker: no news without it."""
        self.broker_connected = connected

    def stale_after(self) -> float:
        """Return how long a state message stays current (s)."""
        return STALE_INTERVALS * self.interval + STALE_MARGIN_S

    def silent_reason(self) -> str | None:
        """Return why the component's values cannot be shown now, or None."""
        if not self.broker_connected:
            return "not connected to the MQTT broker"
        if not self.node_online:
            return f"node {self.node} is offline"
        if self.removed:
            return f"{self.comp} is no longer on node {self.node}"
        if self.state is None or self.state_at is None:
            return f"no state from {self.node}/{self.comp} yet"
        silent = self._monotonic() - self.state_at
        if silent > self.stale_after():
            return f"no state from {self.node}/{self.comp} for {silent:.0f} s"
        if not self.state.get("available"):
            error = self.state.get("error")
            message = error.get("message") if isinstance(error, Mapping) else None
            return f"{self.node}/{self.comp} is unavailable: {message or 'no reason'}"
        return None

    @override
    async def async_poll(self, due: Collection[Cadence]) -> Poll:
        """Return the last state message's values; raise when they are not current."""
        if (reason := self.silent_reason()) is not None:
            raise DeviceSilentError(reason)
        assert self.state is not None
        at = parse_time(self.state.get("time"), self._wall_clock())
        poll = Poll(attempted=set(self._values))
        values = self.state.get("values")
        for key, body in (values if isinstance(values, Mapping) else {}).items():
            if not self._is_canonical(key) or not isinstance(body, Mapping):
                continue
            value = body.get("value")
            if isinstance(value, int | float | str) and not isinstance(value, bool):
                self._add(poll, key, value, at)
        return poll

    def _add(self, poll: Poll, key: str, value: float | str, at: float) -> None:
        """Add one value to a poll, and as a setting where it is one."""
        reading: Reading | None = make_reading(key, value, at)
        if reading is None:
            return
        poll.readings[key] = reading
        if key in CommandKind and CommandKind(key) in self.commands:
            kind = CommandKind(key)
            # A value the node reads at the slow cadence (once a minute)
            # lags a write: once written, the read-back is the setting.
            if kind not in self._read_back:
                poll.settings[kind] = reading.value

    def request(self, command: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
        """Return a new request in the envelope."""
        return {
            "request_id": uuid.uuid4().hex,
            "time": utc_text(self._wall_clock()),
            "node": self.node,
            "comp": self.comp,
            "command": command,
            "parameters": dict(parameters),
        }

    async def async_request(
        self, command: str, parameters: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        """Publish a request; return its response's values or raise its error."""
        response = await self._async_exchange(command, parameters)
        return _values_or_raise(response)

    async def _async_exchange(
        self, command: str, parameters: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        """Publish a request; return its response, whatever it says."""
        body = self.request(command, parameters)
        request_id = body["request_id"]
        future: asyncio.Future[Mapping[str, Any]] = (
            asyncio.get_running_loop().create_future()
        )
        self.pending[request_id] = future
        try:
            await self._publish(self.topic("request"), _encode(body))
            async with asyncio.timeout(self.response_timeout):
                response = await future
        except TimeoutError:
            raise DeviceError(
                f"{self.node}/{self.comp} did not answer {command} within"
                f" {self.response_timeout:g} s"
            ) from None
        finally:
            self.pending.pop(request_id, None)
        return response

    def on_response(self, message: Mapping[str, Any]) -> None:
        """Hand a response to the request waiting for it (others are not ours)."""
        future = self.pending.get(str(message.get("request_id")))
        if future is not None and not future.done():
            future.set_result(message)

    @override
    async def async_apply(self, command: Command) -> None:
        """Send a checked setting as a request; keep the value it read back."""
        parameters: dict[str, Any] = {"value": command.value}
        if command.target is not None:
            parameters["target"] = command.target
        response = await self._async_exchange(str(command.kind), parameters)
        values = _values_or_raise(response)
        body = values.get(str(command.kind))
        value = body.get("value") if isinstance(body, Mapping) else None
        if not isinstance(value, int | float | str) or isinstance(value, bool):
            raise DeviceError(
                f"{self.node}/{self.comp} answered {command.kind} without its value"
            )
        self._read_back[command.kind] = value

    @override
    async def async_read_back(self, command: Command) -> float | str:
        """Return the setting as the node last read it back, or as its state says."""
        if command.kind in self._read_back:
            return self._read_back[command.kind]
        if self.state is not None and self.silent_reason() is None:
            values = self.state.get("values")
            body = values.get(command.kind) if isinstance(values, Mapping) else None
            if isinstance(body, Mapping) and isinstance(body.get("value"), int | float):
                return float(body["value"])
        raise DeviceError(f"{command.kind} is unknown until it is set")

    @override
    def diagnostics(self) -> Mapping[str, object]:
        """Return the component's config, last state and what is pending."""
        return {
            "node": self.node,
            "comp": self.comp,
            "family": self.remote_family,
            "node_online": self.node_online,
            "interval": self.interval,
            "last_state_age_s": (
                None
                if self.state_at is None
                else round(self._monotonic() - self.state_at, 1)
            ),
            "last_state_time": None if self.state is None else self.state.get("time"),
            "silent": self.silent_reason(),
            "pending_requests": sorted(self.pending),
            "commands": sorted(self.commands),
        }


def _encode(body: Mapping[str, Any]) -> str:
    """Return a message as compact JSON."""
    return json.dumps(body, separators=(",", ":"))


def _values_or_raise(response: Mapping[str, Any]) -> Mapping[str, Any]:
    """Return a response's values; raise the error it carries, mapped."""
    error = response.get("error")
    if isinstance(error, Mapping):
        code = str(error.get("code"))
        message = f"{error.get('message')} ({code})"
        if code in _REJECTED:
            raise CommandRejectedError(message)
        if code in _NOT_CONFIRMED:
            raise CommandNotConfirmedError(message)
        raise DeviceError(message)
    values = response.get("values")
    return values if isinstance(values, Mapping) else {}
