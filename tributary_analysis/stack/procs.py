"""Server processes started detached and stopped by PID, never by name.

A process we start gets its own session (so a Ctrl-C in the terminal does not reach it) and
a :class:`ProcessRef` recording its PID, its kernel start time and a marker from its command
line. :func:`stop` signals a PID only after ``/proc/PID/cmdline`` and the start time prove it
is still the process we started: a recycled PID is never killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests

from tributary_analysis.errors import StackError

#: Popen objects of children started by this interpreter, kept so they are reaped (no zombies,
#: no ResourceWarning) when stopped.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class ProcessRef:
    """What identifies a started server: enough to stop it safely from another process."""

    pid: int
    marker: str
    starttime: int
    log: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProcessRef:
        return cls(int(data["pid"]), str(data["marker"]), int(data["starttime"]),
                   str(data.get("log", "")))


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether ``port`` can be bound on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ')'
    return raw[raw.rindex(")") + 2:].split()


def process_starttime(pid: int) -> int | None:
    """The kernel start time of ``pid`` (clock ticks since boot), or None if it is gone."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields else None


def cmdline(pid: int) -> list[str]:
    """``/proc/PID/cmdline`` as a list, empty when the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _reap(pid: int) -> None:
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is not None:
            _CHILDREN.pop(pid, None)
        return
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def is_running(ref: ProcessRef) -> bool:
    """Whether the process of ``ref`` is alive and still the one we started (not a zombie)."""
    _reap(ref.pid)
    fields = _stat_fields(ref.pid)
    if fields is None or fields[0] == "Z":
        return False
    if int(fields[19]) != ref.starttime:
        return False
    args = cmdline(ref.pid)
    # Right after exec the kernel has not yet set the new argument pointers and
    # /proc/PID/cmdline reads empty (seen under heavy load): same PID and start time, so
    # wait for the arguments instead of calling the process gone.
    deadline = time.monotonic() + 5.0
    while not args and time.monotonic() < deadline and Path(f"/proc/{ref.pid}").exists():
        time.sleep(0.05)
        args = cmdline(ref.pid)
    return any(ref.marker in part for part in args)


def start_detached(
    argv: Sequence[str],
    *,
    log_path: Path,
    marker: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    user: tuple[int, int] | None = None,
) -> ProcessRef:
    """Start ``argv`` in its own session with output to ``log_path``; return its reference.

    Parameters
    ----------
    argv : sequence of str
        The command; ``argv[0]`` must exist.
    log_path : Path
        stdout and stderr go here (appended), so a failed start can show the log tail.
    marker : str
        A string that appears in the process's command line, checked before any signal.
    cwd, env : optional
        Working directory and full environment for the child.
    user : (uid, gid), optional
        Run as this user (needs root); supplementary groups are dropped.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict[str, Any] = {}
    if user is not None:
        kwargs.update(user=user[0], group=user[1], extra_groups=[])
    with open(log_path, "ab") as log:
        if user is not None:
            os.chown(log_path, user[0], user[1])
        try:
            proc = subprocess.Popen(
                list(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=str(cwd) if cwd else None, env=dict(env) if env is not None else None,
                start_new_session=True, close_fds=True, **kwargs,
            )
        except OSError as exc:
            raise StackError(f"cannot start {argv[0]}: {exc}; check that it is installed "
                             "and executable") from exc
    _CHILDREN[proc.pid] = proc
    starttime = process_starttime(proc.pid)
    if starttime is None:  # exited at once
        proc.wait()
        _CHILDREN.pop(proc.pid, None)
        raise StackError(f"{argv[0]} exited at once (code {proc.returncode}); "
                         f"log {log_path}:\n{log_tail(log_path)}")
    return ProcessRef(proc.pid, marker, starttime, str(log_path))


def log_tail(path: str | Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file, for error messages."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            text = fh.read().decode(errors="replace")
    except OSError as exc:
        return f"(log {path} unreadable: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def wait_http(
    url: str,
    *,
    ref: ProcessRef,
    name: str,
    timeout: float = 120.0,
    auth: tuple[str, str] | None = None,
    ready: Callable[[requests.Response], bool] = lambda r: r.status_code == 200,
    log_path: str | Path | None = None,
) -> None:
    """Poll ``url`` until ``ready(response)``; fail fast if the process died.

    Raises
    ------
    StackError
        On timeout or when the process exits, with the tail of its log.
    """
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    log = log_path or ref.log
    while time.monotonic() < deadline:
        if not is_running(ref):
            raise StackError(f"{name} (PID {ref.pid}) exited before it answered on {url}; "
                             f"last lines of {log}:\n{log_tail(log)}")
        try:
            resp = requests.get(url, auth=auth, timeout=5)
            if ready(resp):
                return
            last = f"HTTP {resp.status_code}: {resp.text[:200]}"
        except requests.RequestException as exc:
            last = type(exc).__name__
        time.sleep(0.25)
    raise StackError(f"{name} did not answer on {url} within {timeout:.0f} s (last: {last}); "
                     f"last lines of {log}:\n{log_tail(log)}")


def stop(ref: ProcessRef, *, timeout: float = 30.0) -> bool:
    """Stop the process of ``ref``: SIGTERM, then SIGKILL after ``timeout`` seconds.

    Returns False when the process was already gone (or the PID now belongs to another
    program, which is left alone), True when it was stopped here.
    """
    if not is_running(ref):
        return False
    os.kill(ref.pid, signal.SIGTERM)
    if not _wait_gone(ref, timeout):
        if is_running(ref):
            os.kill(ref.pid, signal.SIGKILL)
        if not _wait_gone(ref, 10.0):
            raise StackError(f"PID {ref.pid} ({ref.marker}) survived SIGKILL; check it with "
                             f"'ps -p {ref.pid}'")
    child = _CHILDREN.pop(ref.pid, None)
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=5)
    return True


def _wait_gone(ref: ProcessRef, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(ref):
            return True
        time.sleep(0.1)
    return not is_running(ref)


def ref_for_pid(pid: int, marker: str, log: str = "") -> ProcessRef | None:
    """A reference to an already running ``pid`` (e.g. read from a pid file), if it matches."""
    starttime = process_starttime(pid)
    if starttime is None or not any(marker in part for part in cmdline(pid)):
        return None
    return ProcessRef(pid, marker, starttime, log)


def listening_sockets(pid: int) -> list[tuple[str, int]]:
    """``(address, port)`` of every TCP socket ``pid`` listens on (IPv4 and IPv6).

    Read from ``/proc`` (what ``ss -ltnp`` shows), so a test or ``demo status`` can prove a
    server listens on loopback only.
    """
    inodes: set[str] = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    except OSError:
        return []
    out: list[tuple[str, int]] = []
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) < 10 or parts[3] != "0A" or parts[9] not in inodes:  # 0A = LISTEN
                continue
            addr_hex, port_hex = parts[1].split(":")
            out.append((_decode_addr(addr_hex, v6), int(port_hex, 16)))
    return sorted(set(out))


def _decode_addr(addr_hex: str, v6: bool) -> str:
    import ipaddress

    raw = bytes.fromhex(addr_hex)
    if not v6:
        return str(ipaddress.IPv4Address(raw[::-1]))
    # four little-endian 32-bit words
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    return str(ipaddress.IPv6Address(words))


def is_loopback(address: str) -> bool:
    """Whether ``address`` (as :func:`listening_sockets` gives it) is a loopback address."""
    import ipaddress

    ip = ipaddress.ip_address(address)
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool((mapped or ip).is_loopback)
