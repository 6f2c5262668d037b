"""What keeps a controller's setup from working: refused in its forms, watched after.

A controller's form refuses an output that cannot do the job (a battery
setpoint that cannot go negative, a current number short of the wallbox's
range). Each kind states its checks once, as functions returning a
``SetupProblem``; the form turns one into a field's error, and the entry
runs the same checks at every step afterwards, raising a repair issue when
an entity changed, went away, or was chosen before the check existed
(``controller/repairs.py``).
"""

from collections.abc import Iterable
from dataclasses import dataclass

from homeassistant.components.number import ATTR_MAX, ATTR_MIN
from homeassistant.const import ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import HomeAssistant
from homeassistant.helpers.issue_registry import IssueSeverity

# An output in another unit than its controller sets (kW for W, mA for A).
OUTPUT_WRONG_UNIT = "output_wrong_unit"


@dataclass(frozen=True, kw_only=True)
class SetupProblem:
    """Something in a controller's setup that keeps it from doing its job.

    ``code`` is the translation key of both the form's error and the repair
    issue; ``subject`` is the entity (or entry) it is about, and names the
    issue; ``detail`` states the facts and fills the texts' ``{error}``.
    """

    code: str
    field: str
    subject: str
    detail: str = ""
    # The further battery (a subentry) whose setting it is, if it is one's.
    subentry_id: str | None = None
    # Whether the issue's repair flow can set it right.
    fixable: bool = False
    severity: IssueSeverity = IssueSeverity.ERROR


@dataclass(frozen=True)
class NumberRange:
    """What a number entity takes: its lowest and highest value, its unit."""

    lowest: float
    highest: float
    unit: str | None

    def __str__(self) -> str:
        """Return the range as the texts show it: ``-5000 to 5000 W``."""
        unit = f" {self.unit}" if self.unit else ""
        return f"{figure(self.lowest)} to {figure(self.highest)}{unit}"


def figure(value: float) -> str:
    """Return a number as people write it: 5000, not 5000.0 or 5e+03."""
    return f"{value:.10g}"


def number_range(hass: HomeAssistant, entity_id: str) -> NumberRange | None:
    """Return what a number entity takes, None while it does not say.

    A number that is missing or unavailable shows no range: nothing can be
    judged, and a missing entity is a problem of its own.
    """
    state = hass.states.get(entity_id)
    if state is None:
        return None
    try:
        lowest = float(state.attributes[ATTR_MIN])
        highest = float(state.attributes[ATTR_MAX])
    except KeyError, TypeError, ValueError:
        return None
    return NumberRange(lowest, highest, state.attributes.get(ATTR_UNIT_OF_MEASUREMENT))


def form_errors(
    problems: Iterable[SetupProblem | None], *, field: str | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """Return the first problem as a form's errors and placeholders.

    ``field`` puts the error on another field than the problem's: the
    options form, which does not show the output, names the setting that
    can set it right.
    """
    for problem in problems:
        if problem is not None:
            return {field or problem.field: problem.code}, {"error": problem.detail}
    return {}, {"error": ""}
