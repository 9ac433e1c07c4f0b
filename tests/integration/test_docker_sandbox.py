"""The Docker backend's policy, each attempt to break out failing and reported cleanly (real daemon, hep image)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from madagents.sandbox import DockerLimits, DockerSandbox

pytestmark = pytest.mark.docker

SECRET = "sk-madagents-test-secret-0123456789"


@pytest.fixture
def sandbox(tmp_path: Path, docker_image: str) -> DockerSandbox:
    work = tmp_path / "run"
    work.mkdir()
    limits = DockerLimits(cpus=1.0, memory_mb=256, pids=64, tmp_mb=64)
    return DockerSandbox(work, docker_image, limits)


def _python(sandbox: DockerSandbox, code: str, timeout_s: float = 60) -> tuple[int, str]:
    result = sandbox.run(["python", "-c", code], timeout_s=timeout_s, log_path="log.txt")
    return result.exit_code, result.output_tail


def test_runs_in_the_run_directory_as_a_non_root_user(sandbox: DockerSandbox) -> None:
    lines: list[str] = []
    result = sandbox.run(
        ["python", "-c", "import os; print(os.getcwd(), os.getuid()); open('out/out.txt', 'w').write('x')"],
        timeout_s=60,
        log_path="logs/log.txt",
        on_line=lines.append,
        writable=["out"],
    )
    assert result.exit_code == 0, result.output_tail
    cwd, uid = lines[0].split()
    assert cwd == "/work"
    assert uid != "0"
    assert (sandbox.workdir / "out/out.txt").read_text() == "x"
    assert (sandbox.workdir / "logs/log.txt").read_text().startswith("/work")


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP server on the host's loopback that a sandboxed tool must not reach."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                server.accept()[0].close()
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join()
    server.close()


def test_no_network_socket_connect(sandbox: DockerSandbox, listener: int) -> None:
    code = f"import socket; socket.create_connection(('127.0.0.1', {listener}), timeout=3); print('CONNECTED')"
    exit_code, output = _python(sandbox, code)
    assert exit_code != 0
    assert "CONNECTED" not in output
    assert "ConnectionRefusedError" in output


def test_no_network_dns(sandbox: DockerSandbox) -> None:
    exit_code, output = _python(sandbox, "import socket; print(socket.getaddrinfo('example.org', 443))")
    assert exit_code != 0
    assert "gaierror" in output


def test_host_files_outside_the_run_directory_are_invisible(sandbox: DockerSandbox, tmp_path: Path) -> None:
    secret = tmp_path / "host-secret.txt"
    secret.write_text(SECRET)
    exit_code, output = _python(sandbox, f"print(open({str(secret)!r}).read())")
    assert exit_code != 0
    assert "FileNotFoundError" in output
    assert SECRET not in output


@pytest.mark.parametrize("target", ["/etc/madagents-was-here", "/opt/madagents/madagents_tools/x.py", "/x"])
def test_writing_outside_the_run_directory_fails(sandbox: DockerSandbox, target: str) -> None:
    exit_code, output = _python(sandbox, f"open({target!r}, 'w').write('x')")
    assert exit_code != 0
    assert "Read-only file system" in output or "Permission denied" in output


def test_fork_bomb_is_stopped_by_the_pids_limit(sandbox: DockerSandbox) -> None:
    code = (
        "import os, time\n"
        "for n in range(1000):\n"
        "    try:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(30); os._exit(0)\n"
        "    except OSError as exc:\n"
        "        print('fork refused after', n, type(exc).__name__); raise SystemExit(3)\n"
        "print('NO LIMIT')\n"
    )
    exit_code, output = _python(sandbox, code)
    assert exit_code == 3
    assert "fork refused after" in output
    assert "NO LIMIT" not in output


def test_memory_hog_is_oom_killed_and_reported(sandbox: DockerSandbox) -> None:
    result = sandbox.run(
        ["python", "-c", "x = bytearray(400 * 1024 * 1024); x[::4096] = b'1' * len(x[::4096]); print('survived')"],
        timeout_s=60,
        log_path="log.txt",
    )
    assert result.oom_killed
    assert result.exit_code == 137
    assert "exceeded the 256 MB memory limit" in result.output_tail
    assert "survived" not in result.output_tail


def test_hanging_tool_is_killed_at_the_timeout(sandbox: DockerSandbox) -> None:
    result = sandbox.run(
        ["python", "-c", "import time; print('start', flush=True); time.sleep(600)"], timeout_s=2, log_path="log.txt"
    )
    assert result.timed_out
    assert result.seconds < 30
    assert "ran longer than 2 s" in result.output_tail
    assert "start" in result.output_tail


def test_host_secrets_do_not_reach_the_container(sandbox: DockerSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("MADAGENTS_TOKEN", SECRET)
    exit_code, output = _python(sandbox, "import os; print(sorted(os.environ.items()))")
    assert exit_code == 0
    assert SECRET not in output
    assert "OPENAI_API_KEY" not in output
    assert SECRET not in (sandbox.workdir / "log.txt").read_text()


def test_a_missing_image_is_reported_not_raised(tmp_path: Path, docker_image: str) -> None:
    sandbox = DockerSandbox(tmp_path, f"{docker_image}-does-not-exist", DockerLimits())
    result = sandbox.run(["python", "-c", "print(1)"], timeout_s=30, log_path="log.txt")
    assert result.exit_code == -1
    assert "the container could not start" in result.output_tail
    assert "the container could not start" in (tmp_path / "log.txt").read_text()


def test_the_tool_may_write_next_to_its_log_but_not_the_log(sandbox: DockerSandbox) -> None:
    result = sandbox.run(
        ["bash", "-c", "mkdir fresh/sub && echo ok > fresh/sub/x && echo forged > fresh/log.txt"],
        timeout_s=60,
        log_path="fresh/log.txt",
        writable=["fresh"],
    )
    assert result.exit_code != 0
    assert (sandbox.workdir / "fresh/sub/x").read_text() == "ok\n"
    assert "forged" not in (sandbox.workdir / "fresh/log.txt").read_text()


def test_cpu_time_of_a_busy_container_is_sampled(sandbox: DockerSandbox) -> None:
    busy = "import time\nwhile time.process_time() < 2.5: pass"
    result = sandbox.run(["python", "-c", busy], timeout_s=60, log_path="log.txt")
    assert result.exit_code == 0
    assert result.cpu_seconds is not None
    # the daemon's stats come about once a second: the last one before the end is up to a second's work short
    assert 1.0 <= result.cpu_seconds <= 2.5 + 0.5
