"""What the screenshot run refuses in Home Assistant's log."""

from eo_lab.screenshots import log_complaints

LOG = """\
2026-12-07 03:27:08.905 WARNING (SyncWorker_0) [homeassistant.loader] We found a custom integration energy_orchestrator which has not been tested by Home Assistant.
2026-12-07 03:27:09.688 ERROR (MainThread) [haffmpeg.core] FFmpeg fails [Errno 2] No such file or directory: 'ffmpeg'
2026-12-07 03:27:10.001 INFO (MainThread) [custom_components.energy_orchestrator.device] Meter is back
2026-12-07 03:27:11.002 WARNING (MainThread) [homeassistant.util.loop] Detected blocking call to open with args ('model_1.json',) inside the event loop by custom integration 'energy_orchestrator'
2026-12-07 03:27:12.003 ERROR (MainThread) [custom_components.energy_orchestrator.peak_shaving] Step failed
"""


def test_only_this_integration_s_blocking_calls_errors_and_warnings_count() -> None:
    """HA's own notice about custom integrations and a missing ffmpeg are not ours."""
    complaints = log_complaints(LOG)
    assert len(complaints) == 2
    assert "Detected blocking call" in complaints[0]
    assert "Step failed" in complaints[1]
