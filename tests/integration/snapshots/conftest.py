"""Fixtures of the snapshot tests: every entity enabled, one platform at a time."""

from collections.abc import Callable, Generator
import dataclasses
from pathlib import Path
from unittest.mock import PropertyMock, patch

from homeassistant.const import Platform
import pytest
from pytest_homeassistant_custom_component.syrupy import (
    HomeAssistantSnapshotExtension,
)
from syrupy.assertion import SnapshotAssertion
from syrupy.location import PyTestLocation

from custom_components.energy_orchestrator import kinds

type OnlyPlatform = Callable[[str, Platform], None]


class SnapshotExtension(HomeAssistantSnapshotExtension):
    """Home Assistant's serializer, with the .ambr files in syrupy's __snapshots__."""

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        """Return the folder beside the test module (Home Assistant's is ``snapshots``)."""
        return str(Path(test_location.filepath).parent / cls.snapshot_dirname)


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Return the snapshot assertion that serializes as Home Assistant core does."""
    return snapshot.use_extension(SnapshotExtension)


@pytest.fixture(autouse=True)
def entity_registry_enabled_by_default() -> Generator[None]:
    """Enable the entities a user would have to enable, so they are snapshotted too."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


@pytest.fixture
def only_platform(monkeypatch: pytest.MonkeyPatch) -> OnlyPlatform:
    """Return a function that limits a kind of entry to one of its platforms.

    ``snapshot_platform`` wants the entities of one platform only, as core's
    tests get by patching an integration's PLATFORMS.
    """

    def limit(kind: str, platform: Platform) -> None:
        entry_kind = kinds.KINDS[kind]
        monkeypatch.setitem(
            kinds.KINDS,
            kind,
            dataclasses.replace(
                entry_kind, platforms={platform: entry_kind.platforms[platform]}
            ),
        )

    return limit
