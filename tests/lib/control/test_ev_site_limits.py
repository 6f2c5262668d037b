"""The car within the site's limits: the billed peak and the phases' fuses."""

from datetime import UTC, datetime, timedelta
import itertools

from custom_components.energy_orchestrator.lib.control.ev_charging import (
    SITE_LIMIT_HOLD,
    ChargeMode,
    ChargingReason,
    EvChargingManager,
    EvInputs,
    EvStatus,
    WallboxLimits,
)

T0 = datetime(2026, 12, 7, 17, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
PEAK_W = 9000.0  # the billed peak peak shaving holds
VOLTS = 230.0


class Site:
    """A house importing ``house_w`` and a car that takes what it is allowed.

    Peak shaving's cap for the car is what the peak leaves over the house;
    a fuse of ``fuse_a`` per phase carries the house's third on each phase.
    """

    def __init__(self, manager: EvChargingManager, fuse_a: float | None = None) -> None:
        self.manager = manager
        self.fuse_a = fuse_a
        self.car_w = 0.0
        self.imports: list[float] = []

    def minute(self, now: datetime, house_w: float) -> EvStatus:
        """Step once; the car then draws what the command says."""
        grid_w = house_w + self.car_w
        phase_cap = None
        if self.fuse_a is not None:
            phase_cap = self.fuse_a - house_w / 3 / VOLTS
        status = self.manager.update(
            now,
            EvInputs(
                grid_power_w=grid_w,
                ev_power_w=self.car_w,
                peak_cap_w=PEAK_W - (grid_w - self.car_w),
                phase_cap_a=phase_cap,
            ),
        )
        command = status.command
        self.car_w = (
            command.current_a * VOLTS * command.phases if command.enable else 0.0
        )
        self.imports.append(house_w + self.car_w)
        return status


def fast(*, above_peak_limit: bool = False, fuse_a: float | None = None) -> Site:
    manager = EvChargingManager(WallboxLimits(), now=T0)
    manager.start(T0, ChargeMode.FAST, above_peak_limit=above_peak_limit)
    return Site(manager, fuse_a)


def test_a_fast_car_is_held_under_the_billed_peak() -> None:
    """16 A on three phases would import 15 kW; the car takes what 9 kW leaves."""
    site = fast()
    status = site.minute(T0, 4000)
    # (9000 - 4000) W over 3 x 230 V: 7 A.
    assert (status.command.current_a, status.command.phases) == (7.0, 3)
    assert status.reason is ChargingReason.PEAK_LIMIT
    assert max(site.imports) <= PEAK_W


def test_a_car_the_peak_leaves_too_little_waits_without_flicker() -> None:
    """Below the car's minimum it goes off, and back only with room to spare, later."""
    site = fast()
    site.minute(T0, 4000)
    now = T0
    held = []
    for minute in range(1, 20):
        now = T0 + minute * MINUTE
        # The house takes 8 kW for ten minutes, then drops back to 3.5 kW.
        status = site.minute(now, 8000 if minute <= 10 else 3500)
        held.append(status.command.enable)
        assert site.imports[-1] <= PEAK_W
    assert held[0] is False
    assert site.manager.status.command.enable
    # Off once (minute 1), on once (after the house dropped): no flicker;
    # one start for the session, one after the hold.
    changes = sum(1 for a, b in itertools.pairwise(held) if a != b)
    assert changes == 1
    assert site.manager.memory.start_stops == 2


def test_off_for_the_hold_time_even_when_room_comes_back_at_once() -> None:
    """A limit that hovers at the car's minimum does not start and stop it every step."""
    site = fast()
    site.minute(T0, 4000)
    status = site.minute(T0 + MINUTE, 8000)
    assert (status.command.enable, status.state) == (False, "waiting")
    assert status.reason is ChargingReason.PEAK_LIMIT
    status = site.minute(T0 + 2 * MINUTE, 2000)
    assert not status.command.enable
    assert status.reason is ChargingReason.PEAK_LIMIT
    status = site.minute(T0 + MINUTE + SITE_LIMIT_HOLD, 2000)
    assert status.command.enable


def test_a_session_sent_through_the_peak_still_keeps_the_fuse() -> None:
    """Asked to go above the peak limit, the car charges at full power, within its fuse."""
    site = fast(above_peak_limit=True)
    status = site.minute(T0, 4000)
    assert status.command.current_a == 16.0
    assert status.reason is ChargingReason.FAST
    assert site.imports[-1] > PEAK_W

    fused = fast(above_peak_limit=True, fuse_a=20)
    status = fused.minute(T0, 4000)
    # 20 A less the house's 5.8 A per phase: 14 A.
    assert status.command.current_a == 14.0
    assert status.reason is ChargingReason.PHASE_LIMIT


def test_the_sessions_choice_survives_a_restart() -> None:
    """A restart in the middle of a session keeps it above the peak limit."""
    site = fast(above_peak_limit=True)
    site.minute(T0, 4000)
    resumed = EvChargingManager(
        WallboxLimits(), now=T0 + MINUTE, saved=site.manager.snapshot()
    )
    assert resumed.memory.above_peak_limit
    status = Site(resumed).minute(T0 + MINUTE, 4000)
    assert status.command.current_a == 16.0
    older = site.manager.snapshot()
    del older["above_peak_limit"]
    assert not EvChargingManager(
        WallboxLimits(), now=T0, saved=older
    ).memory.above_peak_limit
