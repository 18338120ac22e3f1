"""Running the shell commands of a Markdown page, as a reader would type them.

:func:`bash_blocks` takes the ```` ```bash ```` code blocks of a page, joins lines continued
with a backslash and splits each command into words (``#`` comments dropped).
:func:`artrec_argv` turns a command into the argv that runs it: ``artrec`` (and
``.venv/bin/artrec``) is the console script of this package, run here as
``python -m artrec`` with the test's interpreter, which is what the script does.
:func:`run_command` runs one in a folder with the package importable, and
:func:`serving` starts ``artrec serve`` on a free loopback port and stops it again.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import artrec

#: Seconds a documented command may take (extraction on a loaded CPU is the slowest).
COMMAND_TIMEOUT = 600
ARTREC_PROGRAMS = ("artrec", ".venv/bin/artrec")


def sections(markdown: str) -> dict[str, str]:
    """``## heading`` -> the text under it (up to the next ``##``)."""
    out: dict[str, str] = {}
    for part in re.split(r"^## ", markdown, flags=re.M)[1:]:
        heading, _, body = part.partition("\n")
        out[heading.strip()] = body
    return out


def bash_blocks(markdown: str) -> list[list[list[str]]]:
    """The ``bash`` code blocks, each a list of commands, each a list of words."""
    blocks = []
    for body in re.findall(r"^```bash\n(.*?)^```", markdown, flags=re.S | re.M):
        text = body.replace("\\\n", " ")
        commands = [shlex.split(line, comments=True) for line in text.splitlines()]
        blocks.append([c for c in commands if c])
    return blocks


def artrec_argv(words: list[str]) -> list[str]:
    """``artrec ARGS`` as ``python -m artrec ARGS`` (the console script's own call)."""
    if words[0] not in ARTREC_PROGRAMS:
        raise ValueError(f"not an artrec command: {shlex.join(words)}")
    return [sys.executable, "-m", "artrec", *words[1:]]


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The test's environment with this package importable and no terminal for tqdm."""
    env = dict(os.environ)
    src = str(Path(artrec.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    env.update(extra or {})
    return env


def run_command(
    words: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one documented artrec command in ``cwd``; fails the test on a non-zero exit."""
    argv = artrec_argv(words)
    done = subprocess.run(
        argv,
        cwd=cwd,
        env=env or environment(),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"`{shlex.join(words)}` exited {done.returncode}:\n{done.stderr}")
    return done


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(words: list[str], cwd: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """Start a documented ``artrec serve`` command on a free port of 127.0.0.1 (the only
    change to it), wait until ``/health`` answers, yield the base URL, stop the server."""
    port = free_port()
    argv = [*artrec_argv(words), "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env or environment(), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read() if proc.stdout else ""
                raise AssertionError(f"`{shlex.join(words)}` stopped:\n{out}")
            try:
                with urllib.request.urlopen(base + "/health", timeout=5) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("the server did not answer /health within 120 s")
            time.sleep(0.25)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()
