"""The faults of the campaign, one scenario each, and what each should do.

The test suite (``tests/faults/``) and ``eo faults`` run the same list:
a scenario is a fault the proxy injects for a while, and whether the
device's entities must go unavailable under it (a fault the integration
rides out, such as answers that are slow but in time, must not blank them).
"""

from dataclasses import dataclass
from enum import StrEnum

from .proxy import Fault


class Action(StrEnum):
    """What a scenario does besides a proxy fault."""

    NONE = "none"
    SWAP = "swap"  # another meter answers, over the open connection
    SWAP_RECONNECT = "swap with reconnect"  # the same, after a reconnect
    SPIKE = "spike"  # the import counter reads 50,000 kWh
    RESET = "reset"  # the meter's import counter restarts from zero


@dataclass(frozen=True, slots=True)
class Scenario:
    """One fault of the campaign."""

    name: str
    fault: Fault = Fault.NONE
    code: int = 4
    delay_s: float = 0.0
    action: Action = Action.NONE
    # Whether the entities must go unavailable while it lasts.
    unavailable: bool = True


# The counter a spike claims, in Wh: 50,000 kWh, as the campaign saw.
SPIKE_WH = 50_000_000.0

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("drop", Fault.DROP),
    Scenario("refuse", Fault.REFUSE),
    Scenario("stall", Fault.STALL),
    Scenario("blackhole", Fault.BLACKHOLE),
    Scenario("garbage", Fault.GARBAGE),
    Scenario("truncate", Fault.TRUNCATE),
    Scenario("slow, in time", Fault.SLOW, delay_s=0.2, unavailable=False),
    Scenario("slow, too late", Fault.SLOW, delay_s=5.0),
    Scenario("exception 1", Fault.EXCEPTION, code=1),
    Scenario("exception 2", Fault.EXCEPTION, code=2),
    Scenario("exception 4", Fault.EXCEPTION, code=4),
    Scenario("exception 11", Fault.EXCEPTION, code=11),
    Scenario("identity swap", action=Action.SWAP),
    Scenario("identity swap, reconnect", action=Action.SWAP_RECONNECT),
    Scenario("counter spike", Fault.REWRITE, action=Action.SPIKE, unavailable=False),
    Scenario("counter reset", action=Action.RESET, unavailable=False),
)


def scenario(name: str) -> Scenario:
    """Return the scenario of that name."""
    return next(s for s in SCENARIOS if s.name == name)
