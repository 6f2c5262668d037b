"""What every controller entry shares: a step timer, saved state, outputs.

A controller's state (a battery's counted charge, a wallbox session) must
survive a restart or a crash: after one, it resumes where it was instead of
starting over from a voltage. It is written through Home Assistant's Store
a few seconds after every change, and at once when the entry unloads or Home
Assistant stops.

What is here serves all three controller kinds, whose entries differ in
their runtime data; ``ConfigEntry`` is invariant in it, so their entries
meet here as ``ConfigEntry[Any]`` and each kind's own modules use its own
alias (``BatteryManagerConfigEntry``...).
"""

from abc import abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, override

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import Event, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.storage import Store
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator

from ..const import CONF_KIND, DOMAIN, LOGGER

# Bumped when the saved layout changes in a way control cannot read.
STORAGE_VERSION = 1

# Changes within this many seconds are written together: at most this much
# counting is lost in a crash, and the disk is not written every step.
SAVE_DELAY_S = 10.0


@contextmanager
def refused_as_invalid_request() -> Iterator[None]:
    """Turn a request control refuses (a ValueError) into the user's error.

    Control refuses what cannot work (a deadline without a target, three
    phases on a wallbox that cannot switch); whoever asked, an action or an
    entity, sees why as a translated validation error.
    """
    try:
        yield
    except ValueError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_request",
            translation_placeholders={"error": str(err)},
        ) from err


def storage_key(kind: str, entry_id: str) -> str:
    """Return the Store key of one controller entry's state."""
    return f"{DOMAIN}.{kind}.{entry_id}"


class ControllerCoordinator[StatusT](DataUpdateCoordinator[StatusT]):
    """Steps one controller on a timer and keeps its state on disk."""

    config_entry: ConfigEntry[Any]

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry[Any],
        *,
        kind: str,
        step: timedelta,
    ) -> None:
        """Initialize the coordinator of a controller entry."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=entry.title,
            update_interval=step,
        )
        self.store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, storage_key(kind, entry.entry_id)
        )

    @abstractmethod
    def snapshot(self) -> dict[str, Any]:
        """Return the controller's state as JSON-able data."""

    @abstractmethod
    async def async_stop_steering(self) -> None:
        """Put the outputs in their safe state and write the state at once."""

    def schedule_save(self) -> None:
        """Write the state soon; Home Assistant flushes it when it stops."""
        self.store.async_delay_save(self.snapshot, SAVE_DELAY_S)

    async def async_save_now(self) -> None:
        """Write the state at once (the entry unloads)."""
        await self.store.async_save(self.snapshot())

    async def async_load_saved(self) -> dict[str, Any] | None:
        """Return the saved state, or None when there is none or it is unreadable."""
        try:
            return await self.store.async_load()
        except HomeAssistantError as err:
            # A file Home Assistant cannot read (it moves a corrupt one aside
            # and raises a repair itself) must not stop the controller; it
            # starts as if new, and says so.
            LOGGER.warning(
                "%s: saved state unreadable, starting anew: %s", self.name, err
            )
            return None

    @override
    async def async_shutdown(self) -> None:
        """Stop stepping and write the state."""
        await super().async_shutdown()
        await self.async_save_now()


async def async_setup_controller(
    hass: HomeAssistant,
    entry: ConfigEntry[Any],
    coordinator: ControllerCoordinator[Any],
    runtime_data: object,
) -> None:
    """Take the first step and stop steering when Home Assistant stops."""
    await coordinator.async_config_entry_first_refresh()
    entry.runtime_data = runtime_data

    async def _async_on_stop(event: Event) -> None:
        """Leave the outputs safe and the state on disk."""
        await coordinator.async_stop_steering()

    entry.async_on_unload(
        hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, _async_on_stop)
    )


async def async_unload_controller(hass: HomeAssistant, entry: ConfigEntry[Any]) -> bool:
    """Leave the outputs safe and the state on disk (the entities are gone)."""
    await entry.runtime_data.coordinator.async_stop_steering()
    return True


async def async_remove_controller(hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
    """Delete a removed controller's saved state with it."""
    store: Store[dict[str, Any]] = Store(
        hass, STORAGE_VERSION, storage_key(entry.data[CONF_KIND], entry.entry_id)
    )
    await store.async_remove()
