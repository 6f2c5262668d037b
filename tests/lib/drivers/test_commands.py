"""The one place commands pass: limits checked before anything is sent."""

import math

import pytest

from custom_components.energy_orchestrator.lib.drivers.commands import (
    Command,
    CommandKind,
    CommandRejectedError,
    CommandSpec,
    check,
)

CURRENT = CommandSpec(CommandKind.CHARGER_CURRENT, "A", 6, 16, 1)
PRIORITY = CommandSpec(
    CommandKind.OUTPUT_SOURCE_PRIORITY, options=("utility", "solar", "sbu")
)


def test_values_inside_the_limits_pass() -> None:
    assert check(CURRENT, Command(CommandKind.CHARGER_CURRENT, 10)) == 10.0
    assert check(PRIORITY, Command(CommandKind.OUTPUT_SOURCE_PRIORITY, "sbu")) == "sbu"


@pytest.mark.parametrize(
    ("spec", "value", "message"),
    [
        (CURRENT, 5, "charger_current 5 A is below the minimum 6 A"),
        (CURRENT, 17, "charger_current 17 A is above the maximum 16 A"),
        (CURRENT, 7.5, "moves in steps of 1 A, 7.5 is not one"),
        (CURRENT, math.nan, "needs a number"),
        (CURRENT, "ten", "needs a number"),
        (PRIORITY, "grid", "must be one of utility, solar, sbu"),
        (None, 3, "does not take"),
    ],
)
def test_nonsense_is_refused_with_a_reason(
    spec: CommandSpec | None, value: float | str, message: str
) -> None:
    with pytest.raises(CommandRejectedError, match=message):
        check(
            spec,
            Command(
                CommandKind.CHARGER_CURRENT
                if spec is not PRIORITY
                else CommandKind.OUTPUT_SOURCE_PRIORITY,
                value,
            ),
        )
