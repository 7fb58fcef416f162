"""Fresh kernels without the import bill: a warm report worker's kernels are forked from a
process that has already imported what the notebooks import.

A report kernel spends most of its start on imports — ipykernel, pandas, plotly, pyarrow,
scipy, the package, and the lazy ones ``nb.setup()`` triggers (plotly's renderers pull in
nbformat, jsonschema and ``rfc3987_syntax``, which compiles a grammar at import): about
5 s of CPU on this project's machine, paid again by every notebook of a batch. The warm pool
(:mod:`._pool_worker`) starts one *zygote* per worker: a single-threaded interpreter that
imports all of that once and then, for each kernel the worker asks for, ``fork()``\\ s a
child that becomes the kernel (ipykernel on the connection file jupyter_client wrote).

Every notebook still gets a process of its own: the child starts from the zygote's state —
imported modules and nothing else (no cell ever ran there) — in a new session, with the
job's environment, working directory and output pipe, and the same lifeline as a spawned
kernel (:mod:`._kernel`: it dies with its parent, killing its process group). The zygote
dies with the worker and takes its kernels with it (:mod:`._lifeline`). numpy's global
random state is re-seeded in each child, as Python's own ``random`` is.

Protocol (a ``SOCK_SEQPACKET`` socket pair, one message per packet, JSON): the worker sends
``{"op": "fork", "argv", "cwd", "env", "preload"}`` with the kernel's output file
descriptor attached (``SCM_RIGHTS``); the zygote imports ``preload`` (kept for later
forks), forks and answers ``{"pid": N}`` or ``{"error": text}``; when it reaps a kernel it
sends ``{"exited": N, "code": C}``. End of input: it kills what is left and exits.

:class:`ForkProvisioner` is the worker's side: a jupyter_client
:class:`~jupyter_client.provisioning.LocalProvisioner` that launches through the zygote
when the command is this project's report kernel (``python -m
tributary_analysis.reports._kernel``) on this interpreter, and spawns as usual otherwise or
when the zygote is gone.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from typing import Any

from jupyter_client.provisioning import LocalProvisioner

_KERNEL_MODULE = "tributary_analysis.reports._kernel"
_MAX_PACKET = 1 << 20
#: what every report kernel imports before its first cell, beyond the notebook's own
#: imports: the kernel itself, and the lazy imports of ``nb.setup()``
WARM_MODULES: tuple[str, ...] = (
    "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.zmqshell", "IPython.display",
    _KERNEL_MODULE, "plotly.io", "plotly.graph_objects",
)


def _send(sock: socket.socket, obj: object, fds: Sequence[int] = ()) -> None:
    data = json.dumps(obj).encode()
    if fds:
        socket.send_fds(sock, [data], list(fds))
    else:
        sock.send(data)


def _warm(preload: Sequence[Sequence[Any]]) -> None:
    """Import ``preload`` (``(module, from-names)`` pairs) and the setup's lazy imports;
    a module that fails to import is the notebook's business, reported by its own cell."""
    for module, names in preload:
        try:
            mod = importlib.import_module(module)
            for name in names:
                if not hasattr(mod, name):
                    importlib.import_module(f"{module}.{name}")
        except Exception as exc:  # the kernel raises it where it belongs
            print(f"[kernel zygote] preloading {module}: {type(exc).__name__}: {exc}",
                  file=sys.stderr, flush=True)
    pio = sys.modules.get("plotly.io")
    if pio is not None:
        with contextlib.suppress(Exception):
            getattr(pio, "renderers")  # noqa: B009 - the lazy import: nbformat, jsonschema
        with contextlib.suppress(Exception):  # every trace type's classes, as a themed
            go = importlib.import_module("plotly.graph_objects")  # figure imports them
            go.Figure(layout={"template": pio.templates["plotly_white"]})
    with warnings.catch_warnings(), contextlib.suppress(Exception):
        warnings.simplefilter("ignore")
        importlib.import_module("tqdm.auto")


# ------------------------------------------------------------------------- the zygote side


def _become_kernel(sock: socket.socket, argv: list[str], cwd: str, env: dict[str, str],
                   out_fd: int, zygote: int) -> None:
    """In the forked child: become a report kernel; never returns."""
    code = 1
    try:
        os.setsid()  # a session and process group of its own, as a spawned kernel has
        sock.close()
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        os.close(out_fd)
        for sig in (signal.SIGTERM, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        from tributary_analysis.reports._lifeline import PARENT_ENV

        os.environ[PARENT_ENV] = str(zygote)
        np = sys.modules.get("numpy")
        if np is not None:
            np.random.seed()
        from tributary_analysis.reports import _kernel

        sys.argv = [_KERNEL_MODULE, *argv]
        _kernel.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _kill_children_and_exit(children: set[int], code: int = 143) -> None:
    for pid in list(children):
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)  # each kernel leads its own group
    os._exit(code)


def serve(sock: socket.socket) -> int:
    """The zygote's loop: fork kernels on request, report their ends, until end of input."""
    from tributary_analysis.reports._lifeline import die_with_parent

    children: set[int] = set()
    die_with_parent(lambda: _kill_children_and_exit(children))
    me = os.getpid()
    _warm([(m, ()) for m in WARM_MODULES])
    while True:
        readable, _, _ = select.select([sock], [], [], 0.2)
        while children:  # reap what ended and say so
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                children.clear()
                break
            if pid == 0:
                break
            children.discard(pid)
            with contextlib.suppress(OSError):
                _send(sock, {"exited": pid, "code": os.waitstatus_to_exitcode(status)})
        if not readable:
            continue
        try:
            data, fds, _, _ = socket.recv_fds(sock, _MAX_PACKET, 4)
        except OSError:
            data, fds = b"", []
        if not data:
            break
        msg = json.loads(data)
        try:
            if msg.get("op") != "fork" or len(fds) != 1:
                raise ValueError(f"bad request {msg.get('op')!r} with {len(fds)} fd(s)")
            _warm(msg.get("preload") or ())
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _become_kernel(sock, list(msg["argv"]), msg["cwd"], dict(msg["env"]),
                               fds[0], me)
            children.add(pid)
            _send(sock, {"pid": pid})
        except Exception as exc:  # the worker then spawns the kernel itself
            _send(sock, {"error": f"{type(exc).__name__}: {exc}"})
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
    _kill_children_and_exit(children, 0)
    return 0  # pragma: no cover - _kill_children_and_exit does not return


def main(argv: list[str]) -> int:
    sock = socket.socket(fileno=int(argv[0]))
    return serve(sock)


# ------------------------------------------------------------------------- the worker side


class _Gone(Exception):
    """The zygote exited or closed its socket."""


class Zygote:
    """The worker's handle on its zygote: start it, ask it for kernels, track their ends.

    Parameters
    ----------
    env : dict
        The environment of the zygote (the job's: what modules read at import time).
    output : int
        File descriptor for the zygote's own messages (the worker's log).
    """

    def __init__(self, env: dict[str, str], output: int | None = None) -> None:
        from tributary_analysis.reports._lifeline import PARENT_ENV

        self.key = tuple(sorted(env.items()))
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {**env, PARENT_ENV: str(os.getpid())}
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tributary_analysis.reports._kernel_zygote",
                 str(theirs.fileno())],
                stdin=subprocess.DEVNULL, stdout=output, stderr=output,
                pass_fds=(theirs.fileno(),), env=env, start_new_session=True)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.sock = ours
        self.codes: dict[int, int] = {}
        #: every kernel forked for this worker: killed by process group if the worker must
        #: die at once (the whole-notebook timeout), before the zygote itself
        self.forked: set[int] = set()
        self.alive = True
        self._lock = threading.Lock()

    def _recv(self, timeout: float | None) -> dict[str, Any] | None:
        if not select.select([self.sock], [], [], timeout)[0]:
            return None
        data = self.sock.recv(_MAX_PACKET)
        if not data:
            self.alive = False
            raise _Gone()
        msg: dict[str, Any] = json.loads(data)
        return msg

    def _drain(self) -> None:
        """Read the exit notices already sent (no waiting)."""
        while (msg := self._recv(0)) is not None:
            if "exited" in msg:
                self.codes[int(msg["exited"])] = int(msg["code"])

    def fork(self, argv: list[str], cwd: str, env: dict[str, str], out_fd: int,
             preload: Sequence[Sequence[Any]], timeout: float = 120.0) -> int:
        """A new kernel process; its pid. Raises :class:`_Gone` if the zygote is not there
        (the caller then spawns the kernel as usual)."""
        with self._lock:
            if not self.alive or self.proc.poll() is not None:
                self.alive = False
                raise _Gone()
            try:
                _send(self.sock, {"op": "fork", "argv": argv, "cwd": cwd, "env": env,
                                  "preload": [list(p) for p in preload]}, [out_fd])
                deadline = time.monotonic() + timeout
                while True:
                    left = deadline - time.monotonic()
                    msg = self._recv(max(left, 0.0)) if left > 0 else None
                    if msg is None:
                        raise _Gone()
                    if "exited" in msg:
                        self.codes[int(msg["exited"])] = int(msg["code"])
                        continue
                    if "error" in msg:
                        print(f"[warm pool] the kernel zygote could not fork: {msg['error']}",
                              file=sys.stderr)
                        raise _Gone()
                    pid = int(msg["pid"])
                    self.forked.add(pid)
                    return pid
            except OSError as exc:
                self.alive = False
                raise _Gone() from exc

    def exit_code(self, pid: int) -> int | None:
        """The kernel's exit code once the zygote reaped it, else None."""
        with self._lock:
            if pid not in self.codes and self.alive:
                with contextlib.suppress(_Gone, OSError):
                    self._drain()
            return self.codes.get(pid)

    def kill_kernels(self) -> None:
        """SIGKILL every kernel's process group, then the zygote's (no locks: this runs in
        a signal handler)."""
        for pid in list(self.forked):
            if pid not in self.codes:
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def close(self, grace: float = 10.0) -> None:
        """End of input: the zygote kills any kernel left and exits."""
        self.alive = False
        with contextlib.suppress(OSError):
            self.sock.close()
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


class _ForkedKernel:
    """The ``Popen`` face of a forked kernel, for :class:`ForkProvisioner`."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int, zygote: Zygote) -> None:
        self.pid = pid
        self.zygote = zygote
        self.returncode: int | None = None
        try:
            self._pidfd: int | None = os.pidfd_open(pid)
        except OSError:  # already gone (or no pidfd): the zygote's notice tells
            self._pidfd = None

    def _ended(self, timeout: float | None) -> bool:
        if self._pidfd is not None:
            return bool(select.select([self._pidfd], [], [], timeout)[0])
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.zygote.exit_code(self.pid) is None and self.zygote.alive:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def poll(self) -> int | None:
        if self.returncode is None and self._ended(0):
            self._finish()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if not self._ended(timeout):
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout or 0)
            self._finish()
        assert self.returncode is not None
        return self.returncode

    def _finish(self) -> None:
        code = None
        for _ in range(40):  # the zygote reaps within its 0.2 s tick
            code = self.zygote.exit_code(self.pid)
            if code is not None or not self.zygote.alive:
                break
            time.sleep(0.05)
        self.returncode = code if code is not None else -signal.SIGKILL
        if self._pidfd is not None:
            with contextlib.suppress(OSError):
                os.close(self._pidfd)
            self._pidfd = None

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ForkProvisioner(LocalProvisioner):
    """Launch the report kernel by forking the worker's zygote; anything else as usual.

    Set on a ``KernelManager`` before ``start_kernel`` (``km.provisioner = …``); the
    zygote and the preload list are class-level hand-offs set by the worker per kernel.
    """

    zygote: Zygote | None = None
    preload: Sequence[Sequence[Any]] = ()
    forked: bool = False

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        zygote, out = self.zygote, kwargs.get("stdout")
        ours = (len(cmd) >= 3 and cmd[0] == sys.executable
                and cmd[1:3] == ["-m", _KERNEL_MODULE])
        if zygote is not None and ours and isinstance(out, int):
            env = dict(kwargs.get("env") or os.environ)
            cwd = str(kwargs.get("cwd") or os.getcwd())
            try:
                pid = zygote.fork(cmd[3:], cwd, env, out, self.preload)
            except _Gone:
                pass
            else:
                self.process = _ForkedKernel(pid, zygote)  # type: ignore[assignment]
                self.pid = self.pgid = pid
                self.cwd = cwd
                self.forked = True
                return self.connection_info
        return await super().launch_kernel(cmd, **kwargs)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
