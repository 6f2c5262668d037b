"""The node's MQTT protocol: topics, the request envelope, and its errors.

docs/node-protocol.md is the page a client author reads and
docs/schemas/node-*.schema.json the machine-readable form; this module is
what the node does, and the tests hold the three together.

Every message is a JSON object; a time is ISO 8601 in UTC with a ``Z``.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
import json
from typing import Any

# How old a request may be when it arrives: a command queued during an
# outage must not be carried out once it no longer means what it meant.
MAX_REQUEST_AGE_S = 30.0
# Home Assistant's MQTT birth and last-will topic.
HOME_ASSISTANT_STATUS = "homeassistant/status"
ONLINE = "online"
OFFLINE = "offline"
READ = "read"
IDENTIFY = "identify"
RELEASE = "release"


class ErrorCode(StrEnum):
    """Why a request was not carried out; the response's ``error.code``."""

    # The payload is not a JSON object.
    BAD_JSON = "bad_json"
    # A field is missing or of the wrong type (request_id, time, command...).
    BAD_REQUEST = "bad_request"
    # The request's ``time`` is more than MAX_REQUEST_AGE_S old (or ahead).
    STALE = "stale"
    UNKNOWN_COMPONENT = "unknown_component"
    UNKNOWN_COMMAND = "unknown_command"
    # The value is outside the component's limits or options.
    OUT_OF_LIMITS = "out_of_limits"
    # The node holds the component in its safe state until the heartbeat returns.
    FAILSAFE = "failsafe"
    # The component cannot be reached or refused the request.
    DEVICE_ERROR = "device_error"
    # The device took the command but reads back another value.
    NOT_CONFIRMED = "not_confirmed"


class RequestError(Exception):
    """A request the node refuses; it is answered with ``error`` and nothing else."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        """Keep the code and the sentence for the response."""
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Topics:
    """The topics of one node under a prefix."""

    prefix: str
    node: str

    @property
    def base(self) -> str:
        """Return ``<prefix>/<node>``."""
        return f"{self.prefix}/{self.node}"

    @property
    def status(self) -> str:
        """Return the retained online/offline topic (the MQTT will)."""
        return f"{self.base}/status"

    @property
    def heartbeat(self) -> str:
        """Return the topic the controller's heartbeat arrives on."""
        return f"{self.base}/heartbeat"

    @property
    def event(self) -> str:
        """Return the topic the node's events go to."""
        return f"{self.base}/event"

    @property
    def requests(self) -> str:
        """Return the subscription that takes every component's requests."""
        return f"{self.base}/+/request"

    def component(self, comp: str, leaf: str) -> str:
        """Return a component's topic: config, state, request or response."""
        return f"{self.base}/{comp}/{leaf}"

    def component_of_request(self, topic: str) -> str | None:
        """Return the component a request topic names, None for another topic."""
        head, _, rest = topic.partition(f"{self.base}/")
        if head or not rest.endswith("/request"):
            return None
        comp = rest.removesuffix("/request")
        return comp if comp and "/" not in comp else None


def utc_now_text(now: float) -> str:
    """Return an epoch time as ISO 8601 UTC with milliseconds and ``Z``."""
    moment = datetime.fromtimestamp(now, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: object) -> float:
    """Return the epoch of an ISO 8601 time; a time without zone is UTC."""
    if not isinstance(text, str):
        raise RequestError(
            ErrorCode.BAD_REQUEST, "time must be an ISO 8601 string (UTC)"
        )
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise RequestError(
            ErrorCode.BAD_REQUEST, f"time {text!r} is not ISO 8601"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@dataclass(frozen=True, slots=True)
class Request:
    """A request as it arrived; ``request_id`` None when it had none usable."""

    request_id: str | int | None
    command: str | None
    parameters: Mapping[str, Any]
    time: float | None


class Refused(RequestError):
    """A request refused before it reached a component, with what it said."""

    def __init__(self, request: Request, code: ErrorCode, message: str) -> None:
        """Keep what could be read of the request, for the response."""
        super().__init__(code, message)
        self.request = request


def _request_id(body: Mapping[str, Any]) -> str | int | None:
    """Return the body's request id if it is a usable one."""
    value = body.get("request_id")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    if isinstance(value, str) and not value.strip():
        return None
    return value


def parse_request(payload: bytes, comp: str, node: str, now: float) -> Request:
    """Return a request; raise RequestError (its ``request`` for the response).

    The envelope's ``node`` and ``comp``, where given, must be the topic's:
    a request published to one component never reaches another.
    """
    try:
        body = json.loads(payload)
    except ValueError:
        raise Refused(
            Request(None, None, {}, None), ErrorCode.BAD_JSON, "payload is not JSON"
        ) from None
    if not isinstance(body, dict):
        raise Refused(
            Request(None, None, {}, None),
            ErrorCode.BAD_JSON,
            "payload must be a JSON object",
        )
    request_id = _request_id(body)
    command = body.get("command")
    parameters = body.get("parameters", {})
    request = Request(
        request_id,
        command if isinstance(command, str) else None,
        parameters if isinstance(parameters, dict) else {},
        None,
    )
    if request_id is None:
        raise Refused(
            request,
            ErrorCode.BAD_REQUEST,
            "request_id (a string or integer) is required",
        )
    if request.command is None:
        raise Refused(request, ErrorCode.BAD_REQUEST, "command (a string) is required")
    if not isinstance(parameters, dict):
        raise Refused(request, ErrorCode.BAD_REQUEST, "parameters must be an object")
    for name, expected in (("node", node), ("comp", comp)):
        if name in body and body[name] != expected:
            raise Refused(
                request,
                ErrorCode.BAD_REQUEST,
                f"{name} {body[name]!r} is not this topic's {expected!r}",
            )
    if "time" not in body:
        raise Refused(
            request, ErrorCode.BAD_REQUEST, "time (ISO 8601, UTC) is required"
        )
    try:
        sent = parse_time(body["time"])
    except RequestError as err:
        raise Refused(request, err.code, err.message) from None
    age = now - sent
    if age > MAX_REQUEST_AGE_S:
        raise Refused(
            request,
            ErrorCode.STALE,
            f"the request is {age:.0f} s old; requests older than"
            f" {MAX_REQUEST_AGE_S:.0f} s are never carried out",
        )
    if age < -MAX_REQUEST_AGE_S:
        raise Refused(
            request,
            ErrorCode.STALE,
            f"the request's time is {-age:.0f} s ahead of the node's clock",
        )
    return Request(request_id, request.command, parameters, sent)


def response(  # noqa: PLR0917 - the envelope's fields, in its order
    request: Request,
    node: str,
    comp: str,
    now: float,
    values: Mapping[str, Any] | None = None,
    error: RequestError | None = None,
) -> dict[str, Any]:
    """Return a response: the request's fields, and values or an error."""
    body: dict[str, Any] = {
        "request_id": request.request_id,
        "time": utc_now_text(now),
        "node": node,
        "comp": comp,
        "command": request.command,
        "parameters": dict(request.parameters),
    }
    if error is not None:
        body["error"] = {"code": str(error.code), "message": error.message}
    else:
        body["values"] = dict(values or {})
    return body


def encode(message: Mapping[str, Any]) -> bytes:
    """Return a message as compact UTF-8 JSON."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
