"""`streamlit run app.py` on a free loopback port, for the tests that need a real server
(tests/test_browser.py, tests/stress/test_app_load.py). Not a test module: imported by them.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
SERVER_FLAGS = ["--server.address", "127.0.0.1", "--server.headless", "true",
                "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Return once the server's health check says ok; fail with the log's tail otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(
                url + "_stcore/health", timeout=2) as response:
            if response.read() == b"ok":
                return
        time.sleep(0.5)
    pytest.fail(f"streamlit did not answer within {timeout} s:\n{log.read_text()[-2000:]}")


@contextlib.contextmanager
def streamlit_app(env: dict[str, str], log: Path, *, command: list[str] | None = None,
                  flags: list[str] = ()) -> Iterator[tuple[str, subprocess.Popen]]:
    """Serve app.py until the block ends; yields (base URL, process).

    ``command`` replaces ``python -m streamlit`` (e.g. a launcher script that patches the
    library first and passes its arguments on to streamlit); ``flags`` are extra options.
    """
    port = free_port()
    argv = [*(command or [sys.executable, "-m", "streamlit"]), "run", str(APP), *SERVER_FLAGS,
            "--server.port", str(port), *flags]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_healthy(url, proc, log)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
