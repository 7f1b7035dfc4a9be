"""The Bielik quickstart's README as a script: its commands, run as written, and a record of which ran.

The README's ``bash`` blocks are the commands a user runs (``shell`` blocks are host preparation:
downloads and GPU installs, not run here). A command goes on over lines ending in a backslash and
over lines inside an open quote. ``export NAME=value`` lines say which variables a user sets: the tier sets the same names
to its own addresses. Every other command is run verbatim by ``QuickstartRunner`` from a scratch
folder whose ``examples`` links to the repository's, with one substitution: the gateway's
``127.0.0.1:8080`` becomes the test gateway's address.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart" / "speakleash-bielik"
README_EN = QUICKSTART / "README.md"
README_PL = QUICKSTART / "README.pl.md"
GATEWAY_IN_README = "http://127.0.0.1:8080"

_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.S | re.M)


def readme_lines(path: Path) -> list[str]:
    """Every command line of the ``bash`` blocks, comments and blanks dropped.

    A line ending in a backslash goes on, and so does one inside an open quote (a JSON body over
    several lines); whitespace runs become one space, as bash reads them outside quotes.
    """
    lines: list[str] = []
    for block in _BLOCK.findall(path.read_text(encoding="utf-8")):
        pending = ""
        for raw in block.splitlines():
            line = raw.strip()
            if not pending and (not line or line.startswith("#")):
                continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            pending += line
            try:
                shlex.split(pending)
            except ValueError:  # an open quote: the command goes on
                pending += " "
                continue
            lines.append(re.sub(r"\s+", " ", pending).strip())
            pending = ""
        assert not pending, f"{path.name}: a bash block ends inside a command: {pending[:80]}"
    return lines


def readme_commands(path: Path = README_EN) -> list[str]:
    """The commands to run: every ``bash`` line but the ``export`` lines."""
    return [line for line in readme_lines(path) if not line.startswith("export ")]


def readme_exports(path: Path = README_EN) -> dict[str, str]:
    """``export NAME=value`` lines: the variables a user sets, with the README's example values."""
    exports = {}
    for line in readme_lines(path):
        if line.startswith("export "):
            name, _, value = line[len("export "):].partition("=")
            exports[name] = value
    return exports


def command_starting(prefix: str, path: Path = README_EN) -> str:
    """The one README command that starts with ``prefix`` (a test names commands by their start)."""
    found = [c for c in readme_commands(path) if c.startswith(prefix)]
    assert len(found) == 1, f"the quickstart README has {len(found)} commands starting {prefix!r}: update the test"
    return found[0]


@dataclass
class QuickstartRunner:
    """Runs README commands in ``workdir`` with ``env``; remembers which it ran."""

    workdir: Path
    env: dict[str, str]
    gateway_url: str = GATEWAY_IN_README
    ran: set[str] = field(default_factory=set)

    @classmethod
    def create(cls, workdir: Path, env: dict[str, str]) -> "QuickstartRunner":
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "examples").symlink_to(REPO / "examples")
        # The llm-router console script of this Python first on PATH.
        path = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        return cls(workdir=workdir, env={**env, "PATH": path})

    def _prepare(self, command: str) -> str:
        assert command in readme_commands(), f"not a command of the quickstart README: {command}"
        self.ran.add(command)
        return command.replace(GATEWAY_IN_README, self.gateway_url)

    def run(self, command: str, timeout: float = 120, then: str = "", **variables: str) -> subprocess.CompletedProcess:
        """A README command to its end (``then`` appended, e.g. curl's ``-w``); stdout and stderr captured."""
        return subprocess.run(["bash", "-c", self._prepare(command) + then], cwd=self.workdir,
                              env={**self.env, **variables}, capture_output=True, text=True, timeout=timeout)

    def start(self, command: str, log_path: Path, **variables: str) -> subprocess.Popen:
        """A README command that serves (vLLM, the guard, the gateway), in its own process group."""
        log = open(log_path, "wb")
        try:
            return subprocess.Popen(["bash", "-c", "exec " + self._prepare(command)], cwd=self.workdir,
                                    env={**self.env, **variables}, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        finally:
            log.close()


def describe(result: subprocess.CompletedProcess) -> str:
    """A failed command's story for an assertion message."""
    args = result.args[-1] if isinstance(result.args, list) else result.args
    return (f"`{shlex.quote(args)[:200]}` exited {result.returncode}\n--- stdout\n{result.stdout[-2000:]}"
            f"\n--- stderr\n{result.stderr[-2000:]}")
