"""The agent on a node: poll the components, publish them, answer requests.

One task per component polls it at its interval and publishes its state;
one task keeps the broker connection (reconnecting with a back-off, the
retained ``online`` again each time, ``offline`` as the MQTT will); one
task watches the controller's heartbeat and applies the safe actions. A
slow device never delays the heartbeat: each request runs in a task of its
own, serialised per bus by the bus's lock. What the node wrote is kept in
its state file, so that a node restarted while the controller is away
still releases it.
"""

import asyncio
from collections import OrderedDict
from collections.abc import Callable
import contextlib
import logging
import ssl
import time
from typing import Any

import aiomqtt

from custom_components.energy_orchestrator.lib.drivers import families
from custom_components.energy_orchestrator.lib.drivers.base import Driver
from custom_components.energy_orchestrator.lib.drivers.errors import DeviceError
from custom_components.energy_orchestrator.lib.drivers.families import (
    FAMILIES,
    build_driver,
)
from custom_components.energy_orchestrator.lib.drivers.transport.pool import LinkPool

from .component import Component, Released
from .config import ComponentConfig, MqttConfig, NodeConfig
from .failsafe import Restored, Tripped, Watchdog
from .protocol import (
    HOME_ASSISTANT_STATUS,
    OFFLINE,
    ONLINE,
    ErrorCode,
    Refused,
    Request,
    RequestError,
    Topics,
    encode,
    parse_request,
    response,
    utc_now_text,
)
from .state_file import Saved, StateFile

_LOGGER = logging.getLogger(__name__)

# The broker notices a node whose network went away within 1.5 keep-alives.
KEEPALIVE_S = 10
RECONNECT_MIN_S = 0.5
RECONNECT_MAX_S = 30.0
# How many answered requests a node remembers, to answer a repeat without
# carrying it out twice (a QoS 1 message the broker delivers again). A repeat
# is the same payload: a client whose ids restart (a Node-RED counter after
# a deploy) sends new requests under old ids.
_REMEMBERED_RESPONSES = 256
# Events that could not be sent while the broker was away, sent once back.
_UNSENT_EVENTS = 32
_WATCH_STEP_S = 0.2


def build_component_driver(pool: LinkPool, config: ComponentConfig) -> Driver:
    """Return a component's driver, for any family of the registry.

    A family reached by URL goes through ``families.build_driver`` on the
    node's pool; one on a CAN bus through ``families.build_can_driver``, on
    a bus of its own. Raises ValueError when the family cannot be built so.
    """
    family = FAMILIES[config.family]
    if config.can is not None:
        build_can: Callable[..., Driver] | None = getattr(
            families, "build_can_driver", None
        )
        if build_can is None:
            raise ValueError(f"{family.name}: this version reads no CAN bus")
        return build_can(
            family,
            config.can.interface,
            config.can.channel,
            config.can.bitrate,
            keepalive=config.can.keepalive,
        )
    if config.endpoint is None:
        raise ValueError(f"{family.name} is reached through a url")
    register_map = None
    if config.register_map is not None:
        with open(config.register_map, encoding="utf-8") as source:
            register_map = source.read()
    return build_driver(pool, family, config.endpoint, config.unit, register_map)


def _tls_context(mqtt: MqttConfig) -> ssl.SSLContext | None:
    """Return the TLS context the config asks for, None for plain MQTT."""
    if mqtt.tls is None:
        return None
    context = ssl.create_default_context(
        cafile=str(mqtt.tls.ca) if mqtt.tls.ca else None
    )
    if mqtt.tls.cert is not None and mqtt.tls.key is not None:
        context.load_cert_chain(str(mqtt.tls.cert), str(mqtt.tls.key))
    return context


class Node:
    """A node's agent; ``run`` until its stop event is set."""

    def __init__(
        self,
        config: NodeConfig,
        *,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Build every component's driver; nothing is read or sent yet."""
        self.config = config
        self.topics = Topics(config.mqtt.prefix, config.node)
        self._wall_clock = wall_clock
        self._monotonic = monotonic
        self.pool = LinkPool()
        self.watchdog = Watchdog(config.heartbeat_timeout)
        self.state_file = (
            StateFile(config.state_file, config.node)
            if config.state_file is not None
            else None
        )
        self._earlier = self._load_state()
        # Saves run in a thread; one at a time, so the last one wins.
        self._save_lock = asyncio.Lock()
        earlier = dict(self._earlier.written)
        locks: dict[object, asyncio.Lock] = {}
        self.components: dict[str, Component] = {}
        for component in config.components:
            driver = build_component_driver(self.pool, component)
            bus: object = (
                component.endpoint.bus_key if component.endpoint else component.id
            )
            lock = locks.setdefault(bus, asyncio.Lock())
            self.components[component.id] = Component(
                component,
                driver,
                lock,
                wall_clock,
                written=earlier.pop(component.id, None),
                ledger_changed=self._save_ledger,
            )
        for comp, settings in earlier.items():
            _LOGGER.warning(
                "the state file names %s, which the config no longer has: %s left"
                " as the earlier run wrote it",
                comp,
                ", ".join(settings),
            )
        self._client: aiomqtt.Client | None = None
        # (comp, request_id) -> (the request's payload, its response's).
        self._answered: OrderedDict[tuple[str, str | int], tuple[bytes, bytes]] = (
            OrderedDict()
        )
        # Requests being carried out: (comp, request_id, payload).
        self._running: set[tuple[str, str | int, bytes]] = set()
        self._unsent_events: list[bytes] = []
        # Components whose safe action did not complete yet (a device away).
        self._unsafe: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.connected = asyncio.Event()

    # Running.

    def _load_state(self) -> Saved:
        """Return what the earlier run saved; save a fresh file if it is unusable."""
        if self.state_file is None:
            return Saved()
        saved = self.state_file.load()
        if saved is None:
            # A good file now: a place it cannot be written in is told at start.
            self.state_file.save({}, watched=False)
            return Saved()
        return saved

    async def _save_ledger(self) -> None:
        """Save every component's ledger (a tiny file, written whole).

        In a thread: its fsync can take a slow SD card a good fraction of a
        second, and the loop keeps the broker's keep-alive meanwhile.
        """
        if self.state_file is None:
            return
        async with self._save_lock:
            # Taken inside the lock: what is saved last is the latest ledger.
            await asyncio.to_thread(
                self.state_file.save,
                {c.id: c.ledger for c in self.components.values()},
                watched=self.watchdog.armed,
            )

    def _arm_if_restarted(self) -> None:
        """Watch the heartbeat from the start when an earlier run left settings.

        Only where that run watched a heartbeat: what a client wrote without
        one (a Node-RED flow) has no fail-safe, after a restart as before.
        """
        left = {c.id: sorted(c.written) for c in self.components.values() if c.written}
        if not left:
            return
        if not self._earlier.watched:
            _LOGGER.info(
                "settings an earlier run wrote without a heartbeat are left as"
                " they are: %s",
                "; ".join(f"{c}: {', '.join(kinds)}" for c, kinds in left.items()),
            )
            return
        self.watchdog.arm_at_start(self._monotonic())
        _LOGGER.warning(
            "restarted with settings an earlier run wrote (%s): released unless"
            " the controller's heartbeat arrives within %g s",
            "; ".join(f"{comp}: {', '.join(kinds)}" for comp, kinds in left.items()),
            self.config.heartbeat_timeout,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set; leave ``offline`` behind on the way out."""
        self._arm_if_restarted()
        workers = [
            asyncio.create_task(self._poll_forever(c), name=f"poll {c.id}")
            for c in self.components.values()
        ]
        workers.append(asyncio.create_task(self._watch(), name="watchdog"))
        workers.append(asyncio.create_task(self._connect_forever(), name="mqtt"))
        try:
            await stop.wait()
        finally:
            await self._say_offline()
            for task in [*workers, *self._tasks]:
                task.cancel()
            await asyncio.gather(*workers, *self._tasks, return_exceptions=True)
            for component in self.components.values():
                await self._close(component)

    async def _close(self, component: Component) -> None:
        """Give a component's link back: to the pool, or shut its own CAN bus."""
        link = getattr(component.driver, "link", None)
        if link is None:
            return
        with contextlib.suppress(Exception):
            if component.config.can is not None:
                await link.close()
            else:
                await self.pool.release(link)

    async def _say_offline(self) -> None:
        """Publish the retained ``offline`` on a clean stop (the will is for crashes)."""
        client = self._client
        if client is None:
            return
        with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
            await client.publish(
                self.topics.status, OFFLINE, qos=1, retain=True, timeout=2
            )

    def _client_for(self, mqtt: MqttConfig) -> aiomqtt.Client:
        """Return a new client: clean session, the will on the status topic."""
        return aiomqtt.Client(
            mqtt.host,
            mqtt.port,
            username=mqtt.username,
            password=mqtt.password,
            identifier=f"eo-node-{self.config.node}",
            will=aiomqtt.Will(self.topics.status, OFFLINE, qos=1, retain=True),
            clean_session=True,
            keepalive=KEEPALIVE_S,
            tls_context=_tls_context(mqtt),
        )

    async def _connect_forever(self) -> None:
        """Keep a broker connection; reconnect with a growing back-off."""
        delay = RECONNECT_MIN_S
        while True:
            client = self._client_for(self.config.mqtt)
            try:
                async with client:
                    self._client = client
                    delay = RECONNECT_MIN_S
                    await self._on_connect(client)
                    async for message in client.messages:
                        self._on_message(message)
            except aiomqtt.MqttError as err:
                if self.connected.is_set():
                    _LOGGER.warning("lost the broker: %s", err)
                else:
                    _LOGGER.warning("cannot reach the broker: %s", err)
            finally:
                self._client = None
                self.connected.clear()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_S)

    async def _on_connect(self, client: aiomqtt.Client) -> None:
        """Say online, subscribe, and publish what a client needs to discover us."""
        await client.publish(self.topics.status, ONLINE, qos=1, retain=True)
        await client.subscribe(
            [
                (self.topics.requests, 1),
                (self.topics.heartbeat, 1),
                (HOME_ASSISTANT_STATUS, 1),
            ]
        )
        _LOGGER.info(
            "connected to %s:%s as %s",
            self.config.mqtt.host,
            self.config.mqtt.port,
            self.topics.base,
        )
        self.connected.set()
        for component in self.components.values():
            if component.identity is not None:
                await self._publish_config(component)
        unsent, self._unsent_events = self._unsent_events, []
        for payload in unsent:
            await self._publish(self.topics.event, payload, qos=1)

    async def _publish(
        self, topic: str, payload: bytes | str, *, qos: int = 0, retain: bool = False
    ) -> bool:
        """Publish if connected; return whether it went out (nothing is queued)."""
        client = self._client
        if client is None or not self.connected.is_set():
            return False
        try:
            await client.publish(topic, payload, qos=qos, retain=retain)
        except aiomqtt.MqttError as err:
            _LOGGER.debug("not published to %s: %s", topic, err)
            return False
        return True

    # Components.

    async def _publish_config(self, component: Component) -> None:
        """Publish the retained description of a component."""
        body = {
            "time": utc_now_text(self._wall_clock()),
            "node": self.config.node,
            "comp": component.id,
            **component.describe(),
            # What a controller's heartbeat must beat (Home Assistant: a third).
            "heartbeat_timeout": self.config.heartbeat_timeout,
        }
        await self._publish(
            self.topics.component(component.id, "config"),
            encode(body),
            qos=1,
            retain=True,
        )

    def state_message(self, component: Component) -> dict[str, Any]:
        """Return a component's state message; no values when it is unavailable."""
        body: dict[str, Any] = {
            "time": utc_now_text(self._wall_clock()),
            "node": self.config.node,
            "comp": component.id,
            "command": "read",
            "available": component.available,
        }
        if component.available:
            body["values"] = component.current_values()
        elif component.error is not None:
            body["error"] = {
                "code": str(ErrorCode.DEVICE_ERROR),
                "message": component.error,
            }
        return body

    async def _poll_forever(self, component: Component) -> None:
        """Identify, poll and publish a component at its interval."""
        interval = component.config.interval
        while True:
            started = self._monotonic()
            await self._poll_once(component)
            if component.id in self._unsafe:
                await self._make_safe(component)
            await asyncio.sleep(max(0.0, started + interval - self._monotonic()))

    async def _poll_once(self, component: Component) -> None:
        """One round: identify where needed, read, publish the state.

        A failure no driver foresaw is logged and shown as the component
        being unavailable; the node goes on polling it.
        """
        try:
            await self._read(component)
        except Exception as err:
            _LOGGER.exception("%s: unexpected failure", component.id)
            component.mark_unavailable(f"unexpected {type(err).__name__}: {err}")
        await self._publish(
            self.topics.component(component.id, "state"),
            encode(self.state_message(component)),
        )

    async def _read(self, component: Component) -> None:
        """Identify the component where needed, then poll it."""
        if component.needs_identify:
            try:
                await component.identify()
            except DeviceError as err:
                component.identity = None
                component.mark_unavailable(str(err))
            else:
                await self._publish_config(component)
        if component.identity is not None:
            await component.poll()

    # Requests.

    def _on_message(self, message: aiomqtt.Message) -> None:
        """Route one message: a heartbeat, Home Assistant's status, a request."""
        topic = message.topic.value
        raw = message.payload
        payload = raw if isinstance(raw, bytes) else str(raw or "").encode()
        if topic == self.topics.heartbeat:
            # A retained heartbeat is an old one: it says nothing about now.
            if not message.retain:
                self._spawn(self._heartbeat())
            return
        if topic == HOME_ASSISTANT_STATUS:
            # A retained will is an old one, met again at each reconnect.
            if payload.strip() == OFFLINE.encode() and not message.retain:
                self._spawn(
                    self._trip(self.watchdog.home_assistant_offline(self._monotonic()))
                )
            return
        comp = self.topics.component_of_request(topic)
        if comp is not None and not message.retain:
            self._spawn(self._answer(comp, payload))

    def _spawn(self, work: Any) -> None:
        """Run a coroutine as a task the node keeps until it ends."""
        task: asyncio.Task[None] = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, comp: str, payload: bytes) -> None:
        """Answer one request on its component's response topic."""
        now = self._wall_clock()
        try:
            request = parse_request(payload, comp, self.config.node, now)
        except Refused as refused:
            await self._respond(comp, refused.request, payload, error=refused)
            return
        assert request.request_id is not None
        earlier = self._answered.get((comp, request.request_id))
        if earlier is not None and earlier[0] == payload:
            # The same request again: the same answer, nothing done twice.
            await self._publish(
                self.topics.component(comp, "response"), earlier[1], qos=1
            )
            return
        running = (comp, request.request_id, payload)
        if running in self._running:
            # Delivered again while it runs: its one answer is on the way.
            return
        self._running.add(running)
        try:
            await self._carry_out(comp, request, payload)
        finally:
            self._running.discard(running)

    async def _carry_out(self, comp: str, request: Request, payload: bytes) -> None:
        """Carry out a checked request on its component and answer it."""
        component = self.components.get(comp)
        if component is None:
            error = RequestError(
                ErrorCode.UNKNOWN_COMPONENT,
                f"node {self.config.node} has no component {comp!r};"
                f" it has {', '.join(self.components)}",
            )
            await self._respond(comp, request, payload, error=error)
            return
        assert request.command is not None
        try:
            values = await component.handle(
                request.command, request.parameters, failsafe=self.watchdog.holding
            )
        except RequestError as err:
            await self._respond(comp, request, payload, error=err)
            return
        except Exception as err:
            # A request is always answered, even through a failure no one foresaw.
            _LOGGER.exception("%s: %s failed", comp, request.command)
            failure = RequestError(
                ErrorCode.DEVICE_ERROR, f"unexpected {type(err).__name__}: {err}"
            )
            await self._respond(comp, request, payload, error=failure)
            return
        await self._respond(comp, request, payload, values=values)

    async def _respond(
        self,
        comp: str,
        request: Request,
        asked: bytes,
        *,
        values: dict[str, Any] | None = None,
        error: RequestError | None = None,
    ) -> None:
        """Publish a response and remember it by request id, with the request."""
        body = response(
            request, self.config.node, comp, self._wall_clock(), values, error
        )
        payload = encode(body)
        if request.request_id is not None:
            key = (comp, request.request_id)
            self._answered.pop(key, None)
            self._answered[key] = (asked, payload)
            while len(self._answered) > _REMEMBERED_RESPONSES:
                self._answered.popitem(last=False)
        await self._publish(self.topics.component(comp, "response"), payload, qos=1)

    # The fail-safe.

    async def _heartbeat(self) -> None:
        """Note a heartbeat; when it ends the safe state, say so."""
        first = not self.watchdog.armed
        restored = self.watchdog.heartbeat(self._monotonic())
        if first:
            # From now on, a restart watches the heartbeat from its start.
            await self._save_ledger()
        if restored is not None:
            await self._left(restored)

    async def _watch(self) -> None:
        """Check the heartbeat often enough to trip on time."""
        while True:
            await self._trip(self.watchdog.check(self._monotonic()))
            due = self.watchdog.due_in(self._monotonic())
            await asyncio.sleep(
                _WATCH_STEP_S if due is None else min(due, _WATCH_STEP_S) + 0.01
            )

    async def _trip(self, tripped: Tripped | None) -> None:
        """Apply every component's safe action and publish the ``failsafe`` event."""
        if tripped is None:
            return
        _LOGGER.warning(
            "fail-safe: %s (%.1f s without a heartbeat)",
            tripped.reason,
            tripped.silent_s,
        )
        self._unsafe = set(self.components)
        results: dict[str, list[dict[str, Any]]] = {}
        for component in self.components.values():
            done = await self._make_safe(component)
            results[component.id] = [r.as_dict() for r in done]
        await self._event(
            {
                "event": "failsafe",
                "state": "entered",
                "reason": str(tripped.reason),
                "silent_s": round(tripped.silent_s, 1),
                "components": results,
            }
        )

    async def _make_safe(self, component: Component) -> list[Released]:
        """Apply one component's safe action; keep it pending while it fails."""
        done = await component.apply_safe_action(component.config.safe_action)
        if all(r.error is None for r in done):
            self._unsafe.discard(component.id)
        else:
            for result in done:
                if result.error is not None:
                    _LOGGER.warning(
                        "fail-safe: %s %s: %s",
                        component.id,
                        result.command,
                        result.error,
                    )
        return done

    async def _left(self, restored: Restored) -> None:
        """Hand control back to the controller."""
        self._unsafe.clear()
        _LOGGER.warning(
            "fail-safe left after %.1f s: the heartbeat is back", restored.held_s
        )
        await self._event(
            {"event": "failsafe", "state": "left", "held_s": round(restored.held_s, 1)}
        )

    async def _event(self, event: dict[str, Any]) -> None:
        """Publish an event; keep it for the broker's return when it is away."""
        body = {
            "time": utc_now_text(self._wall_clock()),
            "node": self.config.node,
            **event,
        }
        payload = encode(body)
        if not await self._publish(self.topics.event, payload, qos=1):
            self._unsent_events = [*self._unsent_events, payload][-_UNSENT_EVENTS:]
