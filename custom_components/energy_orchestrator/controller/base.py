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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any, override

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import Event, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.storage import Store
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator

from ..const import CONF_KIND, DOMAIN, LOGGER
from .outputs import OutputWriter
from .ownership import OutputClaims

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


# The suffix of the Store key of the last state known good.
PREVIOUS = ".previous"
# The repair issues of a saved state that could not be used.
STATE_FROM_PREVIOUS = "saved_state_from_previous"
STATE_LOST = "saved_state_lost"
# What a saved state that cannot be resumed from raises while being read.
UNUSABLE_STATE = (KeyError, TypeError, ValueError, AttributeError, ArithmeticError)


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
        key = storage_key(kind, entry.entry_id)
        self.store: Store[dict[str, Any]] = Store(hass, STORAGE_VERSION, key)
        # Whether the controller was built (restored): only then is there a state.
        self._built = False
        # The last state that was read back and resumed from, or written at a
        # clean stop: what a damaged file falls back to.
        self.previous: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, key + PREVIOUS
        )
        # The outputs this controller drives, and how it writes them.
        self.claims = OutputClaims(
            hass=hass, entry_id=entry.entry_id, title=entry.title, logger=LOGGER
        )
        self.writer = OutputWriter(hass, self.name, LOGGER, claims=self.claims)

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
        """Write the state at once (the entry unloads), and keep it as the good copy."""
        if not self._built:
            return  # The set-up failed before the controller was: keep what is saved.
        snapshot = self.snapshot()
        await self.store.async_save(snapshot)
        await self.previous.async_save(snapshot)

    async def async_restore[T](self, build: Callable[[dict[str, Any] | None], T]) -> T:
        """Return the controller built from its saved state (see ``_async_restore``)."""
        built = await self._async_restore(build)
        self._built = True
        return built

    async def _async_restore[T](self, build: Callable[[dict[str, Any] | None], T]) -> T:
        """Return the controller built from its saved state, whatever became of it.

        ``build`` makes the controller from a saved state (None: anew) and
        raises one of ``UNUSABLE_STATE`` for one it cannot resume from. A
        damaged state falls back to the previous good copy, and failing that
        to a new start; either way a repair issue says what was lost. A state
        resumed from becomes the good copy.
        """
        saved = await self.async_load_saved()
        previous = await self._async_load(self.previous)
        if saved is not None:
            try:
                built = build(saved)
            except UNUSABLE_STATE as err:
                damage = str(err)
            else:
                await self.previous.async_save(saved)
                return built
        elif previous is None:
            return build(None)  # A new entry: nothing was saved yet.
        else:
            damage = "the file could not be read"
        LOGGER.warning("%s: saved state cannot be used: %s", self.name, damage)
        if previous is not None:
            try:
                built = build(previous)
            except UNUSABLE_STATE:
                pass
            else:
                self._raise_state_issue(STATE_FROM_PREVIOUS, damage)
                return built
        self._raise_state_issue(STATE_LOST, damage)
        return build(None)

    async def _async_load(self, store: Store[dict[str, Any]]) -> dict[str, Any] | None:
        """Return what a store holds; None when it holds nothing readable."""
        try:
            return await store.async_load()
        except HomeAssistantError:
            return None

    def _raise_state_issue(self, code: str, damage: str) -> None:
        """Tell the user the saved state was damaged, and what was lost."""
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            f"{self.config_entry.entry_id}_{code}",
            is_fixable=False,
            is_persistent=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=code,
            translation_placeholders={"title": self.name, "error": damage},
        )

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
        """Stop stepping, write the state and give the outputs up."""
        await super().async_shutdown()
        await self.async_save_now()
        self.claims.async_release()


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

    # Not ``async_listen_once``: its removal on a later unload, once it has
    # fired, is an error in Home Assistant's log.
    entry.async_on_unload(
        hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, _async_on_stop)
    )


async def async_unload_controller(hass: HomeAssistant, entry: ConfigEntry[Any]) -> bool:
    """Leave the outputs safe and the state on disk (the entities are gone)."""
    await entry.runtime_data.coordinator.async_stop_steering()
    return True


async def async_remove_controller(hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
    """Delete a removed controller's saved state with it."""
    key = storage_key(entry.data[CONF_KIND], entry.entry_id)
    for name in (key, key + PREVIOUS):
        store: Store[dict[str, Any]] = Store(hass, STORAGE_VERSION, name)
        await store.async_remove()
