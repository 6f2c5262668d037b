"""The base of entities that command a device: numbers, selects and switches.

Every command goes through ``drivers.base.execute``: limits checked before
anything is sent, the setting read back after. The entity shows the value
read back from the device, never the one it merely asked for.
"""

from collections.abc import Callable

from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.entity import EntityDescription

from ..const import DOMAIN
from ..lib.drivers.base import execute
from ..lib.drivers.commands import (
    Command,
    CommandKind,
    CommandNotConfirmedError,
    CommandRejectedError,
    CommandSpec,
)
from ..lib.drivers.errors import DeviceError
from .coordinator import DeviceRuntimeData
from .entity import EnergyOrchestratorEntity


class CommandEntity(EnergyOrchestratorEntity):
    """An entity that sets one of a device's commands."""

    def __init__(self, device: DeviceRuntimeData, spec: CommandSpec) -> None:
        """Initialize the entity for one command."""
        super().__init__(
            device,
            EntityDescription(key=f"command_{spec.kind}", translation_key=spec.kind),
        )
        self.spec = spec

    @property
    def setting(self) -> float | str | None:
        """Return the device's setting, as last read back."""
        return self.coordinator.settings.get(self.spec.kind)

    @property
    def available(self) -> bool:
        """Return whether the device answers and its setting is known.

        A remote component's setting is unknown until written (the node
        does not publish it): its entity can be set all the same.
        """
        return self.coordinator.last_update_success and (
            self.setting is not None or not self.coordinator.reads_settings
        )

    async def async_command(self, value: float | str) -> None:
        """Send the command through the one checked path; show the read-back."""
        await _async_execute(self, Command(self.spec.kind, value))


async def _async_execute(entity: CommandEntity, command: Command) -> None:
    """Execute a command, mapping driver errors to translated HA errors."""
    try:
        actual = await execute(entity.coordinator.driver, command)
    except CommandRejectedError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="command_rejected",
            translation_placeholders={"error": str(err)},
        ) from err
    except CommandNotConfirmedError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="command_not_confirmed",
            translation_placeholders={"error": str(err)},
        ) from err
    except DeviceError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="communication_error",
            translation_placeholders={"error": str(err)},
        ) from err
    entity.coordinator.settings[command.kind] = actual
    entity.coordinator.async_update_listeners()


def is_switch(spec: CommandSpec) -> bool:
    """Return whether a command is an on/off switch."""
    return spec.options is not None and set(spec.options) == {"on", "off"}


def commands_of(
    device: DeviceRuntimeData, accept: Callable[[CommandSpec], bool]
) -> list[CommandSpec]:
    """Return the device's commands a platform shows, in a stable order."""
    commands = device.coordinator.driver.commands
    return [
        commands[kind]
        for kind in CommandKind
        if kind in commands and accept(commands[kind])
    ]
