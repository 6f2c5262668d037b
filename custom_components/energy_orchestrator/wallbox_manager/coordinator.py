"""The coordinator that steps the wallbox manager and commands the wallbox.

Every step it reads the grid meter, the car's power, whether a car is
plugged in and the house battery, lets ``EvChargingManager`` decide, and
writes enable, phases and current to the wallbox's entities. Phases are
written only while charging is off: the manager's sequence (stop, wait
for the current to fall, switch, wait, resume) sees to that, and the
wallbox's own driver refuses a switch under load as well. The phase
output is a select (options ``1`` and ``3``) or a number (1 or 3).

Where peak shaving runs, the car takes the room it posts (now, and ahead
per step of its plan), and a deadline that needs the billed peak lifted
posts the lift for peak shaving to raise its level by.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, override

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.util import dt as dt_util

from ..const import (
    CONF_BATTERY_FLOOR_ENTITY,
    CONF_BATTERY_MAX_DISCHARGE_KW,
    CONF_BATTERY_POWER_ENTITY,
    CONF_BATTERY_SOC_ENTITY,
    CONF_CURRENT_ENTITY_OUT,
    CONF_ENABLE_ENTITY,
    CONF_EV_CONNECTED_ENTITY,
    CONF_EV_POWER_ENTITY,
    CONF_GRID_POWER_ENTITY,
    CONF_MAX_CURRENT_A,
    CONF_MIN_CURRENT_A,
    CONF_MIN_PHASE_SWITCH_MINUTES,
    CONF_PHASES_ENTITY,
    CONF_PV_ROUTING_ENTITY,
    CONF_PV_ROUTING_SHARE,
    CONTROLLER_STEP,
    KIND_WALLBOX_MANAGER,
)
from ..controller.base import ControllerCoordinator, refused_as_invalid_request
from ..controller.battery_plan import PlannableCar, async_post_car
from ..controller.inputs import InputQuantity, read_input
from ..controller.site_decisions import (
    TO_SAFE_STATE,
    Why,
)
from ..controller.site_limits import (
    ControllableLoad,
    PeakLift,
    SiteHeadroom,
    TakenHeadroom,
    async_post_controllable_load,
    async_post_lift,
    async_site_headroom,
    async_take_headroom,
)
from ..lib.control.ev_charging import (
    ChargeMode,
    EvChargingManager,
    EvCommand,
    EvInputs,
    EvStatus,
    PhaseChoice,
    PvRoute,
    WallboxLimits,
    site_caps,
)
from ..lib.control.reason_layers import layer_of

type WallboxManagerConfigEntry = ConfigEntry[WallboxManagerRuntimeData]

# A wallbox lets an EMS's current lapse to its safe current when it is not
# rewritten (an Alfen after its 60 s validity time): the current and the
# switch are sent again at least this often, even when unchanged.

# The names of the two PV configurations a routing switch selects between.
ROUTE_BALANCED = "balanced"
ROUTE_BUNDLED = "bundled"


def limits_from(
    data: dict[str, Any] | Any, options: dict[str, Any] | Any
) -> WallboxLimits:
    """Return the wallbox's limits from an entry."""
    return WallboxLimits(
        min_current_a=float(options[CONF_MIN_CURRENT_A]),
        max_current_a=float(options[CONF_MAX_CURRENT_A]),
        can_switch_phases=bool(data.get(CONF_PHASES_ENTITY)),
        min_phase_switch_interval=timedelta(
            minutes=float(options[CONF_MIN_PHASE_SWITCH_MINUTES])
        ),
        pv_routes=(
            (
                PvRoute(ROUTE_BALANCED, 1 / 3),
                PvRoute(
                    ROUTE_BUNDLED, float(options.get(CONF_PV_ROUTING_SHARE, 2 / 3))
                ),
            )
            if data.get(CONF_PV_ROUTING_ENTITY)
            else ()
        ),
    )


class WallboxManagerCoordinator(ControllerCoordinator[EvStatus]):
    """Steps the wallbox manager and keeps the wallbox on its commands."""

    config_entry: WallboxManagerConfigEntry
    manager: EvChargingManager

    def __init__(self, hass: HomeAssistant, entry: WallboxManagerConfigEntry) -> None:
        """Initialize; ``_async_setup`` restores the session."""
        super().__init__(hass, entry, kind=KIND_WALLBOX_MANAGER, step=CONTROLLER_STEP)

    @override
    async def _async_setup(self) -> None:
        """Resume the session and mode, or start off."""
        now = dt_util.utcnow()
        limits = limits_from(self.config_entry.data, self.config_entry.options)
        self.manager = await self.async_restore(
            lambda saved: EvChargingManager(limits, now=now, saved=saved)
        )

    @override
    async def _async_update_data(self) -> EvStatus:
        """Run one step and command the wallbox."""
        now = dt_util.utcnow()
        inputs = self._inputs(now)
        status = self.manager.update(now, inputs)
        await self._async_command(
            status.command,
            now,
            Why(layer=layer_of(status.reason), reason=status.reason),
        )
        self._take_headroom(now, status.command, inputs.ev_power_w)
        self._post_lift(now, status)
        self._post_car(now, inputs)
        async_post_controllable_load(
            self.hass,
            self.config_entry.entry_id,
            None
            if inputs.ev_power_w is None
            else ControllableLoad(at=now, source=self.name, power_w=inputs.ev_power_w),
        )
        self.schedule_save()
        return status

    def _post_lift(self, now: datetime, status: EvStatus) -> None:
        """Post the lift of the billed peak a deadline charges with, or withdraw it.

        Peak shaving raises its level by it while it is fresh; a session
        that ends (the car gone, the need met, another mode) posts none.
        """
        lift = status.peak_lift_w if status.command.enable else 0.0
        async_post_lift(
            self.hass,
            self.config_entry.entry_id,
            PeakLift(at=now, source=self.name, lift_w=lift) if lift > 0 else None,
        )

    def _post_car(self, now: datetime, inputs: EvInputs) -> None:
        """Post the deadline session for the flexible loads' plan, or withdraw it.

        The plan places it (the battery and the billed peak planned with the
        car's night); a car not connected, or no deadline, posts none.
        """
        need = None if inputs.connected is False else self.manager.deadline_need(now)
        async_post_car(
            self.hass,
            self.config_entry.entry_id,
            None
            if need is None
            else PlannableCar(
                at=now,
                entry_id=self.config_entry.entry_id,
                source=self.name,
                need_wh=need.energy_wh,
                departs=need.deadline,
                max_power_w=need.max_power_w,
                power_w=max(inputs.ev_power_w or 0.0, 0.0),
            ),
        )

    def _take_headroom(
        self, now: datetime, command: EvCommand, ev_power: float | None
    ) -> None:
        """Record the room a rise of the car's current takes from the site."""
        if not command.enable:
            return
        commanded = command.current_a * self.manager.limits.voltage_v * command.phases
        rise = commanded - max(ev_power or 0.0, 0.0)
        async_take_headroom(
            self.hass,
            TakenHeadroom(
                at=now,
                taker=self.config_entry.entry_id,
                grid_w=rise,
                phase_w=rise / max(command.phases, 1),
            ),
        )

    def _inputs(self, now: datetime) -> EvInputs:
        """Read the site; what cannot be trusted is None."""
        data = self.config_entry.data
        connected: bool | None = None
        if entity := data.get(CONF_EV_CONNECTED_ENTITY):
            state = self.hass.states.get(entity)
            connected = {STATE_ON: True, STATE_OFF: False}.get(
                state.state if state else ""
            )
        battery_kw = self.config_entry.options.get(CONF_BATTERY_MAX_DISCHARGE_KW) or 0.0
        ev_power = read_input(
            self.hass, data[CONF_EV_POWER_ENTITY], InputQuantity.POWER, now
        )
        headroom = async_site_headroom(self.hass, now, self.config_entry.entry_id)
        peak_cap, phase_cap = self._site_caps(headroom, ev_power)
        return EvInputs(
            grid_power_w=read_input(
                self.hass, data[CONF_GRID_POWER_ENTITY], InputQuantity.POWER, now
            ),
            ev_power_w=ev_power,
            connected=connected,
            battery_power_w=read_input(
                self.hass, data.get(CONF_BATTERY_POWER_ENTITY), InputQuantity.POWER, now
            ),
            battery_soc=read_input(
                self.hass, data.get(CONF_BATTERY_SOC_ENTITY), InputQuantity.PERCENT, now
            ),
            battery_floor_soc=read_input(
                self.hass,
                data.get(CONF_BATTERY_FLOOR_ENTITY),
                InputQuantity.PERCENT,
                now,
            ),
            battery_max_discharge_w=float(battery_kw) * 1000,
            peak_cap_w=peak_cap,
            phase_cap_a=phase_cap,
            grid_cap_w=self._connection_cap(headroom, ev_power),
            room_ahead=None if headroom is None else headroom.ahead,
            peak_lift_held=headroom is not None and headroom.lifts_level,
        )

    def _site_caps(
        self, headroom: SiteHeadroom | None, ev_power: float | None
    ) -> tuple[float | None, float | None]:
        """Return the most the car may take (W, per phase A) under the site's limits.

        The room peak shaving left, plus what the car takes already (the
        room was measured with it); None where no peak shaver says.
        """
        if headroom is None:
            return None, None
        return site_caps(
            ev_power_w=ev_power,
            phases=self.manager.memory.phases,
            voltage_v=self.manager.limits.voltage_v,
            grid_headroom_w=headroom.grid_w,
            phase_headroom_w=headroom.phase_w,
        )

    @staticmethod
    def _connection_cap(
        headroom: SiteHeadroom | None, ev_power: float | None
    ) -> float | None:
        """Return the most the car may take under the grid connection's limit (W).

        Safety: no session sent through the peak passes it. The room was
        measured with the car taking what it takes; None where no limit is
        posted.
        """
        if headroom is None or headroom.connection_w is None:
            return None
        return max(ev_power or 0.0, 0.0) + headroom.connection_w

    async def _async_command(self, command: EvCommand, now: datetime, why: Why) -> None:
        """Write enable, phases (only while off) and current.

        Phases are written while the command is off, and at a start while
        the wallbox's switch still shows off, before the current: on a
        wallbox whose current is its switch (an Alfen), a current turns it
        on. The switch and the current are the wallbox's setpoint, which
        lapses when not rewritten: the writer sends them again in time.
        """
        data = self.config_entry.data
        enable = data.get(CONF_ENABLE_ENTITY)
        stopped = not command.enable or (
            enable is not None
            and (state := self.hass.states.get(enable)) is not None
            and state.state == STATE_OFF
        )
        # Each write: the entity, the value, whether it lapses.
        switch = [(enable, command.enable, True)] if enable else []
        phases = (
            [(entity, command.phases, False)]
            if (entity := data.get(CONF_PHASES_ENTITY)) and stopped
            else []
        )
        routing = (
            [(entity, command.pv_route == ROUTE_BUNDLED, False)]
            if (entity := data.get(CONF_PV_ROUTING_ENTITY)) and command.pv_route
            else []
        )
        # Off first, on last: a wallbox never charges on a half-written command.
        writes: list[tuple[str, float | str | bool, bool]] = (
            [
                *routing,
                *phases,
                (data[CONF_CURRENT_ENTITY_OUT], command.current_a, True),
                *switch,
            ]
            if command.enable
            else [*switch, *phases, *routing]
        )
        for entity_id, value, lapses in writes:
            await self.writer.async_write(entity_id, value, now, lapses=lapses, why=why)

    async def async_start(
        self,
        mode: ChargeMode,
        target_energy_wh: float | None = None,
        deadline: datetime | None = None,
        *,
        above_peak_limit: bool = False,
    ) -> None:
        """Start a session in ``mode``, then step at once.

        ``above_peak_limit``: this session may raise the billed peak that
        peak shaving holds. Raises ServiceValidationError (translated) for
        a session control refuses (a deadline without a target energy).
        """
        with refused_as_invalid_request():
            self.manager.start(
                dt_util.utcnow(),
                mode,
                target_energy_wh,
                deadline,
                above_peak_limit=above_peak_limit,
            )
        await self.async_refresh()

    async def async_stop(self) -> None:
        """End charging, then step at once."""
        self.manager.stop(dt_util.utcnow())
        await self.async_refresh()

    async def async_set_phases(self, choice: PhaseChoice) -> None:
        """Force one or three phases, or let the manager choose; step at once.

        Raises ServiceValidationError (translated) for three phases on a
        wallbox that cannot switch them.
        """
        with refused_as_invalid_request():
            self.manager.set_phases(dt_util.utcnow(), choice)
        await self.async_refresh()

    @override
    async def async_stop_steering(self) -> None:
        """Stop charging on the wallbox and write the session at once.

        The writer claims the switch, logs a failure once and records the
        change, as the other controllers' stops do.
        """
        async_post_lift(self.hass, self.config_entry.entry_id, None)
        async_post_car(self.hass, self.config_entry.entry_id, None)
        async_post_controllable_load(self.hass, self.config_entry.entry_id, None)
        try:
            if entity := self.config_entry.data.get(CONF_ENABLE_ENTITY):
                await self.writer.async_write(
                    entity, False, dt_util.utcnow(), lapses=False, why=TO_SAFE_STATE
                )
        finally:
            await self.async_save_now()

    @override
    def snapshot(self) -> dict[str, Any]:
        """Return the session and mode."""
        return self.manager.snapshot()


@dataclass(kw_only=True)
class WallboxManagerRuntimeData:
    """Runtime data of a wallbox manager entry."""

    coordinator: WallboxManagerCoordinator
    device_info: DeviceInfo


__all__ = ["ChargeMode", "WallboxManagerCoordinator", "limits_from"]
