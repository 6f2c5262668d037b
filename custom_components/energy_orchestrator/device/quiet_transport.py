"""A lost Modbus connection is the device's fault: logged at INFO by tmodbus.

tmodbus, the backend of Home Assistant's shared Modbus connections, logs an
ERROR whenever a connection is lost with an error ("connection lost due to
error: [Errno 104] Connection reset by peer"), and an INFO when it is closed
cleanly. A gateway that reboots or a cable pulled is the same event either
way; the coordinator of each device on the connection already logs one
warning when the device stops answering. Likewise tmodbus warns of every
answer that comes after its request timed out (a slow or blackholed
device, answering once it is back). ``quiet_known_transport_errors`` lowers
exactly those records, for the network errors listed here, to INFO; every
other record of tmodbus (a frame it cannot parse, a bug it reports) keeps
its level. See docs/decisions/quiet-logs.md.
"""

import logging

# The tmodbus transports a Modbus family of this integration runs over.
TRANSPORT_LOGGERS = (
    "tmodbus.transport.async_tcp",
    "tmodbus.transport.async_rtu_over_tcp",
    "tmodbus.transport.async_rtu",
    "tmodbus.transport.async_ascii",
)
# What a network does to a connection; anything else is worth an ERROR.
KNOWN_TRANSPORT_ERRORS = (
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
    TimeoutError,
)
_CONNECTION_LOST = "connection lost due to error"
# What tmodbus says of an answer to a request it gave up on: it discards it.
_LATE_ANSWER = "Received unexpected response with Transaction ID"


def _known_loss(record: logging.LogRecord) -> bool:
    """Return whether a record says a connection was lost to a network error."""
    return (
        record.levelno == logging.ERROR
        and _CONNECTION_LOST in str(record.msg)
        and isinstance(record.args, tuple)
        and len(record.args) == 1
        and isinstance(record.args[0], KNOWN_TRANSPORT_ERRORS)
    )


def _late_answer(record: logging.LogRecord) -> bool:
    """Return whether a record says an answer came after its request timed out."""
    return record.levelno == logging.WARNING and str(record.msg).startswith(
        _LATE_ANSWER
    )


class KnownTransportErrorFilter(logging.Filter):
    """Log known network events at INFO: a connection lost, an answer too late."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Lower the record's level when it is a known event; keep every record."""
        if _known_loss(record) or _late_answer(record):
            record.levelno = logging.INFO
            record.levelname = logging.getLevelName(logging.INFO)
        return True


_FILTER = KnownTransportErrorFilter()


def quiet_known_transport_errors() -> None:
    """Install the filter on tmodbus' transport loggers (once)."""
    for name in TRANSPORT_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
