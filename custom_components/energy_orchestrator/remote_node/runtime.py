"""One remote node in Home Assistant: its components, their messages, its heartbeat.

Everything goes through Home Assistant's MQTT integration: the entry
subscribes to the node's status and its components' config, state and
response topics, and publishes requests and the heartbeat. Each component
is a device with a ``RemoteDriver`` and a coordinator of its own, so its
entities are the ones a local device has; a state message refreshes its
coordinator at once (no polling delay). Each refresh starts the
coordinator's timer again, so the timer fires only when the state stopped
coming, and makes the component's entities unavailable.
"""

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass, field
from datetime import timedelta
import json
import time
from typing import TYPE_CHECKING, Any, override

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from ..const import CONF_NODE, CONF_PREFIX, DOMAIN, LOGGER
from ..device.coordinator import DeviceCoordinator, DeviceRuntimeData
from ..lib.drivers.errors import DeviceError
from ..lib.drivers.remote import DEFAULT_HEARTBEAT_TIMEOUT_S, RemoteDriver, utc_text
from .mqtt import async_publish, async_subscribe, is_connected, subscribe_connection

if TYPE_CHECKING:
    from .mqtt import Message

type RemoteNodeConfigEntry = ConfigEntry[RemoteNode]

# A coordinator's timer starts again at each state message, so it fires
# only once the state is stale; this margin makes sure it is by then.
_STALE_CHECK_MARGIN_S = 0.5


class RemoteComponentCoordinator(DeviceCoordinator):
    """The coordinator of one remote component: its last state message, checked.

    The node checks who its devices are; a remote component's identity is
    what its config message says. A setting is unknown until it is written
    or the state carries it, and its entity is available all the same.
    """

    reads_settings = False

    @override
    async def _async_check_identity(self) -> None:
        """Do nothing: the node identifies its devices itself."""


def node_id(prefix: str, node: str) -> str:
    """Return a node's unique id: its topic prefix and name."""
    return f"{prefix}/{node}"


@dataclass
class RemoteNode:
    """The runtime data of a remote node's entry."""

    hass: HomeAssistant
    entry: RemoteNodeConfigEntry
    prefix: str
    node: str
    components: dict[str, DeviceRuntimeData] = field(default_factory=dict)
    drivers: dict[str, RemoteDriver] = field(default_factory=dict)
    status: str | None = None
    heartbeats: int = 0
    # Each platform's callback, to add the entities of components found later.
    adders: dict[Platform, AddConfigEntryEntitiesCallback] = field(default_factory=dict)
    entity_makers: dict[Platform, Callable[[DeviceRuntimeData], list[Entity]]] = field(
        default_factory=dict
    )
    first_config: asyncio.Event = field(default_factory=asyncio.Event)
    # Set when a component says a shorter timeout: the next beat comes sooner.
    _period_changed: asyncio.Event = field(default_factory=asyncio.Event)
    _heartbeat_task: asyncio.Task[None] | None = None

    @property
    def unique_id(self) -> str:
        """Return the node's unique id."""
        return node_id(self.prefix, self.node)

    @property
    def device_info(self) -> DeviceInfo:
        """Return the node's device, the one its components hang off."""
        return DeviceInfo(
            identifiers={(DOMAIN, self.unique_id)},
            name=self.node,
            manufacturer="Energy Orchestrator",
            model="eo node",
        )

    def topic(self, *levels: str) -> str:
        """Return a topic under the node."""
        return "/".join((self.prefix, self.node, *levels))

    async def async_start(self) -> None:
        """Subscribe to the node's topics and start the heartbeat."""
        for topic, handler in (
            (self.topic("status"), self._on_status),
            (self.topic("+", "config"), self._on_config),
            (self.topic("+", "state"), self._on_state),
            (self.topic("+", "response"), self._on_response),
        ):
            self.entry.async_on_unload(await async_subscribe(self.hass, topic, handler))
        self.entry.async_on_unload(subscribe_connection(self.hass, self._on_connection))
        self._heartbeat_task = self.entry.async_create_background_task(
            self.hass, self._beat_forever(), f"{DOMAIN} heartbeat of {self.node}"
        )
        self.entry.async_on_unload(self.stop_heartbeat)
        self.entry.async_on_unload(
            # Not ``async_listen_once``: its removal on a later unload, once
            # it has fired, is an error in Home Assistant's log.
            self.hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, self._on_hass_stop)
        )

    @callback
    def _on_hass_stop(self, _event: Event) -> None:
        """Stop beating as Home Assistant stops: the node's fail-safe takes over."""
        self.stop_heartbeat()

    @callback
    def stop_heartbeat(self) -> None:
        """Stop publishing the heartbeat."""
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            self._heartbeat_task = None

    def heartbeat_period(self) -> float:
        """Return how often to beat: a third of the shortest timeout a component says."""
        timeouts = [d.heartbeat_timeout for d in self.drivers.values()]
        return min(timeouts, default=DEFAULT_HEARTBEAT_TIMEOUT_S) / 3

    async def _beat_forever(self) -> None:
        """Publish the heartbeat until the entry unloads."""
        while True:
            try:
                await async_publish(
                    self.hass, self.topic("heartbeat"), utc_text(time.time())
                )
                self.heartbeats += 1
            except HomeAssistantError as err:
                LOGGER.debug("heartbeat of %s not sent: %s", self.node, err)
            self._period_changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.heartbeat_period()):
                    await self._period_changed.wait()

    async def _publish(self, topic: str, payload: str) -> None:
        """Publish a request, refusing it while the broker is away.

        A request queued in the MQTT client through an outage would reach
        the node late; the node refuses it after 30 s, this refuses it now.
        """
        if not is_connected(self.hass):
            raise DeviceError("Home Assistant is not connected to the MQTT broker")
        try:
            await async_publish(self.hass, topic, payload)
        except HomeAssistantError as err:
            raise DeviceError(str(err)) from err

    @callback
    def _on_connection(self, connected: bool) -> None:
        """Make every component unavailable at once when the broker is lost."""
        for driver in self.drivers.values():
            driver.on_broker(connected=connected)
        if not connected:
            self._refresh_all()

    @callback
    def _on_status(self, message: Message) -> None:
        """Take the node's status; refresh every component's entities at once."""
        self.status = _text(message.payload)
        for driver in self.drivers.values():
            driver.on_status(self.status)
        self._refresh_all()

    @callback
    def _refresh_all(self) -> None:
        """Refresh every component's coordinator."""
        for component in self.components.values():
            self._refresh(component.coordinator)

    def _refresh(self, coordinator: DeviceCoordinator) -> None:
        """Refresh a coordinator now: its values come from memory."""
        self.entry.async_create_background_task(
            self.hass, coordinator.async_refresh(), f"{DOMAIN} remote refresh"
        )

    @callback
    def _on_config(self, message: Message) -> None:
        """Take a component's config: a new component, a changed or a removed one."""
        comp = message.topic.split("/")[-2]
        if not message.payload:
            # The retained config cleared: the component left the node.
            if (driver := self.drivers.get(comp)) is not None:
                LOGGER.info(
                    "%s: %s left the node; its device can be deleted", self.node, comp
                )
                driver.on_removed()
                self._refresh(self.components[comp].coordinator)
            return
        config = _json(message.payload)
        if config is None or config.get("comp") != comp:
            LOGGER.warning("%s: unreadable config on %s", self.node, message.topic)
            return
        period = self.heartbeat_period()
        self._take_config(comp, config)
        if self.heartbeat_period() < period:
            self._period_changed.set()

    def component_of_device(self, device: dr.DeviceEntry) -> str | None:
        """Return the component a device (or one of its parts) stands for."""
        for comp, component in self.components.items():
            identifiers = set(component.device_info["identifiers"])
            for part in component.sub_device_info.values():
                identifiers |= part["identifiers"]
            if device.identifiers & identifiers:
                return comp
        return None

    def forget(self, comp: str) -> None:
        """Forget a component whose device the user deleted, with its parts.

        A config message for it later adds it again, as a new component.
        """
        component = self.components.pop(comp)
        self.drivers.pop(comp)
        devices = dr.async_get(self.hass)
        parts: set[tuple[str, str]] = set()
        for part in component.sub_device_info.values():
            parts |= part["identifiers"]
        for device in dr.async_entries_for_config_entry(devices, self.entry.entry_id):
            if device.identifiers & parts:
                devices.async_remove_device(device.id)

    def _take_config(self, comp: str, config: dict[str, Any]) -> None:
        """Update a known component, or add a new one with its entities."""
        if comp in self.drivers:
            self.drivers[comp].update_config(config)
            self._refresh(self.components[comp].coordinator)
            return
        driver = RemoteDriver(self.prefix, self.node, config, self._publish)
        if self.status is not None:
            driver.on_status(self.status)
        self.drivers[comp] = driver
        component = self._component(comp, driver)
        self.components[comp] = component
        self.first_config.set()
        # Added at once, so a platform set up meanwhile never adds them twice.
        for platform, add in self.adders.items():
            add(self.entity_makers[platform](component))
        # Not refreshed now: its first state message does it, and a refresh
        # before would log the new component unavailable.

    def _component(self, comp: str, driver: RemoteDriver) -> DeviceRuntimeData:
        """Return a component's device, sub-devices and coordinator."""
        coordinator = RemoteComponentCoordinator(
            self.hass,
            self.entry,
            driver,
            name=f"{self.node}/{comp}",
            update_interval=timedelta(
                seconds=driver.stale_after() + _STALE_CHECK_MARGIN_S
            ),
        )
        identity = driver.identity
        unique_id = f"{self.unique_id}/{comp}"
        name = f"{self.node} {comp}"
        # Registered up front: a device under another can only name it by
        # the other's id (the node under nothing, a component under the
        # node, its sub-devices under it).
        devices = dr.async_get(self.hass)
        node_device = devices.async_get_or_create(
            config_entry_id=self.entry.entry_id, **self.device_info
        )
        device_info = DeviceInfo(
            identifiers={(DOMAIN, unique_id)},
            name=name,
            manufacturer=identity.manufacturer,
            model=identity.model,
            serial_number=identity.serial_number,
            sw_version=identity.firmware,
            via_device_id=node_device.id,
        )
        device = devices.async_get_or_create(
            config_entry_id=self.entry.entry_id, **device_info
        )
        return DeviceRuntimeData(
            coordinator=coordinator,
            unique_id=unique_id,
            identity=identity,
            device_info=device_info,
            sub_device_info={
                sub.key: DeviceInfo(
                    identifiers={(DOMAIN, f"{unique_id}_{sub.key}")},
                    name=f"{name} {sub.name}",
                    manufacturer=identity.manufacturer,
                    model=sub.model,
                    via_device_id=device.id,
                )
                for sub in driver.sub_devices
            },
        )

    @callback
    def add_platform(
        self,
        platform: Platform,
        add: AddConfigEntryEntitiesCallback,
        make: Callable[[DeviceRuntimeData], list[Entity]],
    ) -> None:
        """Add a platform's entities of every component, now and when found."""
        self.adders[platform] = add
        self.entity_makers[platform] = make
        for component in self.components.values():
            add(make(component))

    @callback
    def _on_state(self, message: Message) -> None:
        """Take a component's state and show it at once."""
        comp = message.topic.split("/")[-2]
        if (driver := self.drivers.get(comp)) is None:
            return
        if (state := _json(message.payload)) is None:
            return
        driver.on_state(state)
        self._refresh(self.components[comp].coordinator)

    @callback
    def _on_response(self, message: Message) -> None:
        """Hand a response to the request waiting for it."""
        comp = message.topic.split("/")[-2]
        if (driver := self.drivers.get(comp)) is not None and (
            response := _json(message.payload)
        ) is not None:
            driver.on_response(response)

    def diagnostics(self) -> dict[str, Any]:
        """Return the node, its components, their last states and pending requests."""
        return {
            "node": self.node,
            "prefix": self.prefix,
            "status": self.status,
            "heartbeat_period_s": round(self.heartbeat_period(), 2),
            "heartbeats_sent": self.heartbeats,
            "components": {
                comp: {
                    **driver.diagnostics(),
                    "last_update_success": (
                        self.components[comp].coordinator.last_update_success
                    ),
                }
                for comp, driver in sorted(self.drivers.items())
            },
        }


def _text(payload: Any) -> str:
    """Return a payload as text."""
    return payload.decode() if isinstance(payload, bytes) else str(payload)


def _json(payload: Any) -> dict[str, Any] | None:
    """Return a payload's JSON object, or None."""
    try:
        body = json.loads(_text(payload))
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def entry_data(prefix: str, node: str) -> dict[str, str]:
    """Return a remote node entry's data (its kind is added by the flow)."""
    return {CONF_PREFIX: prefix, CONF_NODE: node}
