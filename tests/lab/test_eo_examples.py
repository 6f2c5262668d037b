"""Every example of docs/eo.md runs as written and prints what the page shows.

The examples are read from the page's ``console`` blocks: a line ``$ eo ...``
is a command, the lines under it what it prints, ``...`` standing for what
varies (a whole line, or part of one). Each command runs as a user runs it,
from the repository's root, as ``python -m eo_lab`` (what ``.venv/bin/eo``
runs). The page's simulated devices are on ports 5020-5028 (the site) and
5100-5104 (the mini-grid); here they run on free ports instead, so the test
does not collide with a ``scripts/develop`` or another test run, and those
port numbers are translated in the commands and their output alike.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
import os
from pathlib import Path
import re
import shlex
import signal
import subprocess
import sys
import time

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "eo.md"
# The ports the page uses: the simulated site's nine, the mini-grid's five.
SITE_PORT, SITE_PORTS = 5020, 9
GRID_PORT, GRID_PORTS = 5100, 5
# Examples slower than the rest of the suite, by their command's start:
# the benchmarks and backtests are lab runs of seconds to minutes each.
SLOW = (
    "eo bench",
    "eo backtest",
    "eo faults",
)
_TIMEOUT_S = 120.0
# Examples that take minutes on the shared 2-core machine: `eo faults`
# starts Home Assistant first, `eo bench report` has its recorder write a
# year of statistics row by row, `eo backtest-site` solves `optimal` exactly.
_LONG_TIMEOUT_S = {
    "eo faults": 600.0,
    "eo bench report": 1200.0,
    "eo backtest-site": 600.0,
}


@dataclass(frozen=True)
class Example:
    """A command of the page and the lines it is shown to print."""

    command: str
    output: tuple[str, ...]

    @property
    def runs_until_stopped(self) -> bool:
        """Return whether the command serves until Ctrl-C."""
        return self.command.startswith("eo simulate")

    @property
    def needs_the_site(self) -> bool:
        """Return whether the command reads the simulated site's devices."""
        return self.command.startswith("eo probe")


def _examples() -> list[Example]:
    """Return the examples of the page, in its order."""
    examples: list[Example] = []
    for block in re.findall(r"```console\n(.*?)```", DOC.read_text(), re.DOTALL):
        command: str | None = None
        output: list[str] = []
        for line in block.splitlines():
            if line.startswith("$ "):
                if command is not None:
                    examples.append(Example(command, tuple(output)))
                command, output = line[2:], []
            else:
                output.append(line)
        if command is not None:
            examples.append(Example(command, tuple(output)))
    return examples


EXAMPLES = _examples()


# Run in a child process: Home Assistant's test harness blocks sockets here.
_FIND_FREE_PORTS = """
import random, socket, sys
count = int(sys.argv[1])
for _ in range(200):
    first = random.randrange(20000, 60000)
    try:
        for port in range(first, first + count):
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", port))
    except OSError:
        continue
    print(first)
    break
"""


def _free_ports(count: int) -> int:
    """Return the first of ``count`` consecutive ports free on 127.0.0.1."""
    found = subprocess.run(
        [sys.executable, "-c", _FIND_FREE_PORTS, str(count)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return int(found.stdout)


@pytest.fixture(scope="module")
def ports() -> Callable[[str], str]:
    """Return the translation of the page's ports into free ones."""
    site, grid = _free_ports(SITE_PORTS), _free_ports(GRID_PORTS)

    def translate(text: str) -> str:
        def port(match: re.Match[str]) -> str:
            number = int(match[0])
            if SITE_PORT <= number < SITE_PORT + SITE_PORTS:
                return str(site + number - SITE_PORT)
            if GRID_PORT <= number < GRID_PORT + GRID_PORTS:
                return str(grid + number - GRID_PORT)
            return match[0]

        return re.sub(r"(?<![\d.])\d{4}(?![\d.])", port, text)

    return translate


def _pattern(line: str) -> re.Pattern[str]:
    """Return a documented output line as a pattern: ``...`` is anything."""
    return re.compile(".*?".join(re.escape(part) for part in line.split("...")))


def _unmatched(documented: tuple[str, ...], printed: list[str]) -> list[str]:
    """Return the documented lines not printed, in order, with ``...`` as anything."""
    expected = [line.rstrip() for line in documented if line.strip() != "..."]
    lines = iter(line.rstrip() for line in printed)
    return [
        line
        for line in expected
        if not any(_pattern(line).fullmatch(out) for out in lines)
    ]


def _argv(command: str) -> list[str]:
    """Return the command line, run as ``python -m eo_lab``."""
    words = shlex.split(command)
    assert words[0] == "eo", command
    return [sys.executable, "-m", "eo_lab", *words[1:]]


class _Served:
    """A command that serves until stopped, and the lines it printed.

    Its output is read without a thread (Home Assistant's test harness fails
    a test that leaves one running): the pipe does not block, and is read
    while waiting.
    """

    def __init__(self, command: str) -> None:
        """Start it."""
        self.process = subprocess.Popen(
            _argv(command),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=os.environ | {"PYTHONUNBUFFERED": "1"},
        )
        assert self.process.stdout is not None
        self._pipe = self.process.stdout.fileno()
        os.set_blocking(self._pipe, False)
        self._printed = b""

    @property
    def lines(self) -> list[str]:
        """Return the lines printed so far."""
        return self._printed.decode(errors="replace").splitlines()

    def _read(self) -> None:
        """Take what the pipe holds."""
        while True:
            try:
                chunk = os.read(self._pipe, 65536)
            except BlockingIOError:
                return
            if not chunk:
                return
            self._printed += chunk

    def wait_for(self, documented: tuple[str, ...], timeout: float = 60.0) -> None:
        """Wait until the documented lines are printed; fail if they are not."""
        deadline = time.monotonic() + timeout
        while True:
            self._read()
            if not _unmatched(documented, self.lines):
                return
            if self.process.poll() is not None or time.monotonic() > deadline:
                missing = _unmatched(documented, self.lines)
                pytest.fail(f"not printed: {missing}; printed: {self.lines}")
            time.sleep(0.1)

    def stop(self) -> int:
        """Stop it as Ctrl-C does; return its exit status."""
        self.process.send_signal(signal.SIGINT)
        try:
            status = self.process.wait(timeout=30)
        finally:
            self._read()
            assert self.process.stdout is not None
            self.process.stdout.close()
        return status


def _translated(example: Example, translate: Callable[[str], str]) -> Example:
    """Return the example on the test's ports."""
    return Example(
        translate(example.command), tuple(translate(line) for line in example.output)
    )


@pytest.fixture(scope="module")
def simulated_site(ports: Callable[[str], str]) -> Iterator[Example]:
    """Run the page's simulated site (its first ``eo simulate``); yield the example."""
    example = next(e for e in EXAMPLES if e.command.startswith("eo simulate"))
    running = _translated(example, ports)
    served = _Served(running.command)
    try:
        served.wait_for(running.output)
        yield example
    finally:
        status = served.stop()
    assert status == 0, served.lines


def _params() -> list[object]:
    """Return the examples as test parameters, the slow ones marked."""
    return [
        pytest.param(
            example,
            id=example.command,
            marks=[pytest.mark.slow] if example.command.startswith(SLOW) else [],
        )
        for example in EXAMPLES
    ]


def test_the_page_has_examples_of_every_command() -> None:
    """The parsing holds: a page without examples would pass everything below."""
    commands = {example.command.split()[1] for example in EXAMPLES}
    assert commands >= {"probe", "simulate", "soc", "backtest", "backtest-ev"}


@pytest.mark.parametrize("example", _params())
def test_example(
    example: Example, ports: Callable[[str], str], request: pytest.FixtureRequest
) -> None:
    if example.needs_the_site or example.runs_until_stopped:
        site: Example = request.getfixturevalue("simulated_site")
        if example == site:
            return  # it has run, and printed its devices, for the others
    running = _translated(example, ports)
    if example.runs_until_stopped:
        served = _Served(running.command)
        try:
            served.wait_for(running.output)
        finally:
            assert served.stop() == 0, served.lines
        return
    result = subprocess.run(
        _argv(running.command),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=next(
            (
                seconds
                for command, seconds in _LONG_TIMEOUT_S.items()
                if example.command.startswith(command)
            ),
            _TIMEOUT_S,
        ),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    printed = result.stdout.splitlines()
    assert printed, "the example prints nothing"
    assert not _unmatched(running.output, printed), result.stdout
