"""Driving ``diracsh`` in a real pseudo-terminal (pexpect), for the end-to-end tests."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pexpect

DEMO_PROMPT = r"Demo/(Jobs|Files)>"


def pty_env(home: Path) -> dict[str, str]:
    """The environment of a diracsh under test: its own home, no grid settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("X509", "DIRAC"))}
    env.update(DIRACSH_HOME=str(home), PROMPT_TOOLKIT_NO_CPR="1", TERM="xterm")
    return env


def spawn_demo(home: Path, width: int = 140) -> pexpect.spawn:
    """``diracsh --demo`` at its first prompt."""
    child = pexpect.spawn(
        sys.executable,
        ["-m", "diracsh", "--demo"],
        env=pty_env(home),
        encoding="utf-8",
        timeout=20,
        dimensions=(40, width),
    )
    child.expect("demo service on https://127.0.0.1:")
    child.expect(DEMO_PROMPT)
    return child


def loose(text: str) -> str:
    """A pattern for *text* as printed in colour: escape codes may sit anywhere."""
    return "(?:\x1b\\[[0-9;?]*[A-Za-z])*".join(re.escape(char) for char in text)


def run(child: pexpect.spawn, line: str, *expected: str) -> None:
    """Send a line; each expected text must appear in order, then the prompt."""
    child.sendline(line)
    for text in expected:
        child.expect(loose(text))
    child.expect(DEMO_PROMPT)
