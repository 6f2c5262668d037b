"""What the node wrote, kept on disk so that a restarted node can release it.

A node restarted while its controller is away (a crash, a power cut of the
Pi alone) would otherwise not know which settings its previous run wrote,
nor the values it found before them. The file holds, per component, each
setting written since its last release and the value found before the
first write (``null`` where the safe action does not restore one, or it
could not be read), and whether that run watched a controller's heartbeat:
settings a client wrote without one (a Node-RED flow) have no fail-safe,
after a restart as before it. It changes only when these do (a first
write, a release, the first heartbeat), not at every keep-alive write: an
SD card wears.

It is replaced whole and atomically (a temporary file beside it, flushed to
disk, renamed over it), so a power cut leaves the old file or the new one.
A file that is missing or cannot be read or parsed is a logged warning and
an empty ledger, never a failed start; one that cannot be written is a
logged warning too, and the node goes on.
"""

from collections.abc import Mapping
import contextlib
from dataclasses import dataclass, field
import json
import logging
import os
from pathlib import Path
import tempfile
from typing import Any

from custom_components.energy_orchestrator.lib.drivers.commands import CommandKind

_LOGGER = logging.getLogger(__name__)

FORMAT_VERSION = 1

# A setting's value before the node first wrote it; None: none to restore.
type Before = float | str | None
# Per component id, per setting written: the value found before.
type Ledger = dict[str, dict[CommandKind, Before]]


@dataclass(frozen=True, slots=True)
class Saved:
    """What a state file holds."""

    written: Ledger = field(default_factory=dict)
    # Whether the run that saved it watched a controller's heartbeat.
    watched: bool = False


class CorruptStateError(ValueError):
    """The state file's content is not a ledger this version understands."""


def default_state_file(node: str, config_folder: Path) -> Path:
    """Return where a node keeps its state when the config does not say.

    In the state directory systemd gives a unit (``StateDirectory=``, which
    sets ``STATE_DIRECTORY``), else beside the config file.
    """
    folder = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    return (Path(folder) if folder else config_folder) / f"{node}.state.json"


def _before(value: object, key: str) -> Before:
    """Return a stored value found before, or raise CorruptStateError."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise CorruptStateError(f"{key}.before is {value!r}, not a number, text or null")


def _settings(comp: str, raw: object) -> dict[CommandKind, Before]:
    """Return one component's settings written, from the file's JSON."""
    if not isinstance(raw, dict):
        raise CorruptStateError(f"written.{comp} is not an object")
    settings: dict[CommandKind, Before] = {}
    for name, entry in raw.items():
        key = f"written.{comp}.{name}"
        try:
            kind = CommandKind(name)
        except ValueError:
            raise CorruptStateError(f"{key}: no such command") from None
        if not isinstance(entry, dict) or "before" not in entry:
            raise CorruptStateError(f"{key} is not an object with before")
        settings[kind] = _before(entry["before"], key)
    return settings


def decode(text: str) -> Saved:
    """Return what a state file holds; raise CorruptStateError."""
    try:
        raw: Any = json.loads(text)
    except ValueError as err:
        raise CorruptStateError(f"not JSON: {err}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("written"), dict):
        raise CorruptStateError("not an object with written")
    if raw.get("version") != FORMAT_VERSION:
        raise CorruptStateError(f"version {raw.get('version')!r}, not {FORMAT_VERSION}")
    watched = raw.get("watched")
    if not isinstance(watched, bool):
        raise CorruptStateError(f"watched is {watched!r}, not true or false")
    return Saved(
        {comp: _settings(comp, entry) for comp, entry in raw["written"].items()},
        watched,
    )


def encode(
    node: str, ledger: Mapping[str, Mapping[CommandKind, Before]], *, watched: bool
) -> str:
    """Return a state file's text; components that wrote nothing are left out."""
    written = {
        comp: {
            str(kind): {"before": before} for kind, before in sorted(settings.items())
        }
        for comp, settings in sorted(ledger.items())
        if settings
    }
    body = {"version": FORMAT_VERSION, "node": node, "watched": watched}
    return json.dumps({**body, "written": written}, indent=2)


class StateFile:
    """A node's state file: read once at start, replaced at each change."""

    def __init__(self, path: Path, node: str) -> None:
        """Bind the file; nothing is read yet."""
        self.path = path
        self.node = node

    def load(self) -> Saved | None:
        """Return what the previous run saved; None when there is none to trust.

        None (with a warning) for a missing, unreadable or corrupt file: the
        node starts as one that wrote nothing.
        """
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            _LOGGER.warning(
                "no state file at %s (a first start?): no setting of an earlier"
                " run to release",
                self.path,
            )
            return None
        except OSError as err:
            _LOGGER.warning(
                "cannot read the state file %s: %s; no setting of an earlier run"
                " will be released",
                self.path,
                err.strerror or err,
            )
            return None
        try:
            return decode(text)
        except CorruptStateError as err:
            _LOGGER.warning(
                "the state file %s is corrupt (%s); no setting of an earlier run"
                " will be released, and it is replaced",
                self.path,
                err,
            )
            return None

    def save(
        self, ledger: Mapping[str, Mapping[CommandKind, Before]], *, watched: bool
    ) -> bool:
        """Replace the file atomically; return whether it was saved."""
        text = encode(self.node, ledger, watched=watched)
        temporary: str | None = None
        try:
            descriptor, temporary = tempfile.mkstemp(
                prefix=f".{self.path.name}.", dir=self.path.parent
            )
            with os.fdopen(descriptor, "w", encoding="utf-8") as sink:
                sink.write(text)
                sink.flush()
                os.fsync(sink.fileno())
            os.replace(temporary, self.path)
            temporary = None
            self._sync_folder()
        except OSError as err:
            _LOGGER.warning(
                "cannot save the state file %s: %s; a restart would not release"
                " what the node wrote",
                self.path,
                err.strerror or err,
            )
            return False
        finally:
            if temporary is not None:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
        return True

    def _sync_folder(self) -> None:
        """Flush the rename to disk too, where the system allows it."""
        with contextlib.suppress(OSError):
            folder = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
