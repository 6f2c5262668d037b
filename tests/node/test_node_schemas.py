"""docs/schemas/ are valid JSON Schemas, and they refuse what the spec forbids.

The messages of a running node are validated in every end-to-end test
(conftest's client checks each one); these show the schemas can fail.
"""

from pathlib import Path

import pytest

from eo_node.failsafe import Reason
from eo_node.protocol import ErrorCode, Request, RequestError, response

from .conftest import SCHEMAS, schema


def test_every_schema_is_a_valid_draft_2020_12_schema() -> None:
    """Each of the five checks itself, and nothing else lies there."""
    kinds = sorted(path.name for path in Path(SCHEMAS).glob("*.json"))
    assert kinds == [
        f"node-{kind}.schema.json"
        for kind in ("config", "event", "request", "response", "state")
    ]
    for kind in ("config", "event", "request", "response", "state"):
        schema(kind)


def test_state_of_an_unavailable_component_carries_no_values() -> None:
    """available false with values is refused; without them it is valid."""
    state = schema("state")
    base = {
        "time": "2026-12-07T08:00:00.000Z",
        "node": "shed",
        "comp": "inv1",
        "command": "read",
    }
    assert state.is_valid({**base, "available": False})
    assert not state.is_valid(
        {**base, "available": False, "values": {"ac_power": {"value": 1, "unit": "W"}}}
    )
    assert not state.is_valid({**base, "available": True})


def test_response_has_values_or_an_error_not_both() -> None:
    """The node's own responses validate; a hybrid or an empty one does not."""
    validator = schema("response")
    request = Request("r1", "active_power_limit", {"value": 50}, None)
    done = response(
        request,
        "shed",
        "inv1",
        0.0,
        {"active_power_limit": {"value": 50.0, "unit": "%"}},
    )
    refused = response(
        request,
        "shed",
        "inv1",
        0.0,
        error=RequestError(ErrorCode.OUT_OF_LIMITS, "too high"),
    )
    validator.validate(done)
    validator.validate(refused)
    assert not validator.is_valid({**done, "error": refused["error"]})
    assert not validator.is_valid({k: v for k, v in done.items() if k != "values"})
    assert not validator.is_valid(
        {**refused, "error": {"code": "oops", "message": "an unknown code"}}
    )


@pytest.mark.parametrize("code", list(ErrorCode))
def test_every_error_code_is_in_the_schema(code: ErrorCode) -> None:
    """A code the node can send is one the schema lists."""
    refused = response(
        Request(None, None, {}, None), "shed", "x", 0.0, error=RequestError(code, "m")
    )
    schema("response").validate(refused)


@pytest.mark.parametrize("reason", list(Reason))
def test_every_failsafe_reason_is_in_the_schema(reason: Reason) -> None:
    """A reason the node can give is one the event schema lists."""
    schema("event").validate(
        {
            "time": "2026-12-07T08:00:00.000Z",
            "node": "shed",
            "event": "failsafe",
            "state": "entered",
            "reason": str(reason),
            "silent_s": 30.0,
            "components": {"inv1": []},
        }
    )
