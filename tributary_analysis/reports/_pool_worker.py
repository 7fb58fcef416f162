"""A warm report worker: imports papermill, nbconvert and the publish step once, then runs
many notebooks, each on a fresh kernel that was started — and made to import what the
notebook imports — while the previous notebook ran.

Run as ``python -m tributary_analysis.reports._pool_worker REPLY_FD`` by
:class:`~tributary_analysis.reports.pool.PoolExecutor`. Requests arrive on stdin, replies
leave on ``REPLY_FD``, both as length-prefixed pickles (:func:`write_frame`,
:func:`read_frame`) between this process and the parent that started it; no job carries a
secret (:class:`~tributary_analysis.reports.execute.ExecutionJob`): credentials are in the
environment this process inherited, as for a one-shot worker.

For each job the worker points its stdout/stderr at the job's ``run.log``, applies the
job's (non-secret) environment, takes the pre-started kernel if it was started for the same
kernelspec, directory and environment (else starts one), runs papermill on it exactly as
:mod:`._worker` does, writes the outcome to ``result.json`` and shuts the kernel down —
kernels are never reused across notebooks. Kernels are forked from the worker's kernel
zygote (:mod:`._kernel_zygote`), which imported the notebooks' modules once, so a kernel
costs a ``fork()`` instead of an interpreter start and seconds of imports. When the parent
asks, it then publishes the run itself (scrub, HTML export, ledger), so the export runs in
the pool, not in the parent.

Lifetime: :mod:`._lifeline` ties it to the parent (``kill -9`` of the parent included); on
SIGTERM — the whole-notebook timeout — it kills every kernel's process group and exits,
exactly like :mod:`._worker`; on end of input it shuts its kernels down and exits.
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import pickle
import struct
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tributary_analysis.reports._kernel_zygote import Zygote

_HEADER = struct.Struct("!I")
#: set to 1 to spawn every kernel as a fresh interpreter instead of forking the zygote
NO_ZYGOTE_ENV = "TRIBUTARY_POOL_NO_ZYGOTE"


def write_frame(fh: IO[bytes], obj: object) -> None:
    """One message: a 4-byte length, then the pickle."""
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    fh.write(_HEADER.pack(len(data)) + data)
    fh.flush()


def read_exact(read: Any, n: int) -> bytes | None:
    """``n`` bytes from ``read`` (a ``read(size)`` callable), or None at end of input."""
    chunks, left = [], n
    while left:
        chunk = read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_frame(fh: IO[bytes]) -> Any:
    """The next message, or None when the other side closed the pipe."""
    head = read_exact(fh.read, _HEADER.size)
    if head is None:
        return None
    body = read_exact(fh.read, _HEADER.unpack(head)[0])
    return None if body is None else pickle.loads(body)  # from our own parent


def notebook_imports(path: str) -> list[tuple[str, tuple[str, ...]]]:
    """The absolute imports of a notebook's code cells: ``(module, from-names)``.

    What a pre-started kernel imports before the notebook is handed to it; cells that do
    not parse (magics) are skipped, relative imports ignored.
    """
    try:
        cells = json.loads(Path(path).read_text()).get("cells", [])
    except (OSError, ValueError):
        return []
    out: list[tuple[str, tuple[str, ...]]] = []
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        try:
            tree = ast.parse("".join(source) if isinstance(source, list) else source)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                out += [(alias.name, ()) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                out.append((node.module, tuple(a.name for a in node.names if a.name != "*")))
    return list(dict.fromkeys(out))


#: runs silently in a pre-started kernel; leaves no name behind, failures go to run.log
_PRELOAD = """\
def __tributary_preload(wanted):
    import contextlib, importlib, sys
    with contextlib.redirect_stdout(sys.__stdout__), contextlib.redirect_stderr(sys.__stderr__):
        for module, names in wanted:
            try:
                mod = importlib.import_module(module)
                for name in names:
                    if not hasattr(mod, name):
                        importlib.import_module(module + "." + name)
            except Exception as exc:
                print(f"[warm kernel] preloading {module}: {type(exc).__name__}: {exc}",
                      file=sys.__stderr__)
        sys.__stderr__.flush()
__tributary_preload(WANTED)
del __tributary_preload
"""


class _Relay(threading.Thread):
    """Copies a kernel's own stdout/stderr (a pipe) into the current job's log: held in
    memory while the kernel waits for its notebook, then written to fd 1 (the job's
    ``run.log`` while the job runs)."""

    def __init__(self, fd: int) -> None:
        super().__init__(name="tributary-kernel-output", daemon=True)
        self.fd = fd
        self._held: list[bytes] = []
        self._attached = False
        self._lock = threading.Lock()

    def attach(self) -> None:
        with self._lock:
            held, self._held, self._attached = self._held, [], True
        for chunk in held:
            os.write(1, chunk)

    def run(self) -> None:
        while True:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            with self._lock:
                if not self._attached:
                    self._held.append(chunk)
                    continue
            os.write(1, chunk)
        os.close(self.fd)


class WarmKernel:
    """A kernel started ahead of its notebook, importing what that kind of notebook does."""

    def __init__(self, key: tuple[Any, ...], kernel_name: str, cwd: str, env: dict[str, str],
                 preload: list[tuple[str, tuple[str, ...]]], *,
                 zygote: Zygote | None = None,
                 zygote_preload: list[tuple[str, tuple[str, ...]]] | None = None) -> None:
        import uuid

        from jupyter_client.blocking import BlockingKernelClient
        from jupyter_client.manager import KernelManager
        from traitlets import DottedObjectName

        from tributary_analysis.reports._kernel_zygote import ForkProvisioner

        class _Tracked(KernelManager):
            """Remembers the clients papermill makes, to close their sockets afterwards.

            They are asynchronous clients, as papermill's own kernels have: nbclient awaits
            their ``get_msg``, so its check that the kernel is alive keeps running while it
            waits for output (with a blocking client a kernel that died mid-cell left it
            waiting until the whole-notebook timeout).
            """

            client_class = DottedObjectName("jupyter_client.asynchronous.AsyncKernelClient")

            def client(self, **kwargs: Any) -> Any:
                kc = super().client(**kwargs)
                clients.append(kc)
                return kc

        clients: list[Any] = []
        self.key = key
        self.clients = clients
        self.started = time.monotonic()
        self.km = _Tracked(kernel_name=kernel_name)
        self.forked = False
        if zygote is not None:  # forked from the zygote: no interpreter start, no imports
            self.km.kernel_id = str(uuid.uuid4())
            provisioner = ForkProvisioner(kernel_id=self.km.kernel_id,
                                          kernel_spec=self.km.kernel_spec, parent=self.km)
            provisioner.zygote = zygote
            provisioner.preload = zygote_preload if zygote_preload is not None else preload
            self.km.provisioner = provisioner
        read_fd, write_fd = os.pipe()
        try:
            self.km.start_kernel(cwd=cwd, env=env, stdout=write_fd, stderr=write_fd)
        finally:
            os.close(write_fd)
        self.forked = bool(getattr(self.km.provisioner, "forked", False))
        self.relay = _Relay(read_fd)
        self.relay.start()
        self._warm_kc: Any = None
        self._warm_id = ""
        if preload:  # a blocking client of our own for the preload
            kc = BlockingKernelClient(**self.km.get_connection_info(session=True),
                                      connection_file=self.km.connection_file,
                                      parent=self.km)
            clients.append(kc)
            kc.start_channels()
            self._warm_kc = kc
            self._warm_id = kc.execute(_PRELOAD.replace("WANTED", repr(preload)), silent=True,
                                       store_history=False, allow_stdin=False)

    def ready(self, timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until the preload finished; False if the kernel
        died or did not answer in time (the caller then starts another)."""
        kc, self._warm_kc = self._warm_kc, None
        if kc is None:
            return bool(self.km.is_alive())
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not self.km.is_alive():
                    return False
                try:
                    msg = kc.get_shell_msg(timeout=min(left, 1.0))
                except Exception:  # queue.Empty: not yet
                    continue
                if msg.get("parent_header", {}).get("msg_id") == self._warm_id:
                    return True
        finally:
            kc.stop_channels()

    def exit_code(self) -> int | None:
        """The kernel process's exit code once it ended (None while it runs)."""
        with contextlib.suppress(Exception):
            process = getattr(self.km.provisioner, "process", None)
            if process is not None:
                code = process.poll()
                return None if code is None else int(code)
        return None

    def close(self) -> None:
        for kc in self.clients:
            with contextlib.suppress(Exception):
                kc.stop_channels()
        with contextlib.suppress(Exception):
            if self.km.has_kernel:
                self.km.shutdown_kernel(now=True)
        self.relay.join(timeout=5)


@contextlib.contextmanager
def _output_to(path: str) -> Iterator[None]:
    """This process's stdout and stderr (the file descriptors) appended to ``path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for f in (fd, *saved):
            os.close(f)


@contextlib.contextmanager
def _environment(job_env: dict[str, str]) -> Iterator[None]:
    """The job's environment on top of ours for the job's duration (kernelspec path...)."""
    from tributary_analysis.reports.execute import job_environment

    before = dict(os.environ)
    os.environ.update(job_environment(job_env, before))
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(before)


class Worker:
    """The job loop's state: the kernel pre-started for the next notebook, and the zygote
    kernels are forked from (:mod:`._kernel_zygote`).

    Parameters
    ----------
    zygote_output : int, optional
        File descriptor the zygote writes its own messages to (the worker's log); ``None``
        runs without a zygote (every kernel a fresh interpreter).
    """

    def __init__(self, zygote_output: int | None = None, *, use_zygote: bool = True) -> None:
        self.spare: WarmKernel | None = None
        self.zygote: Zygote | None = None
        self.zygote_output = zygote_output
        self.use_zygote = use_zygote and os.environ.get(NO_ZYGOTE_ENV, "") in ("", "0")

    def _zygote(self) -> Zygote | None:
        """The zygote for the current environment (started, or restarted when the
        environment changed); None when it cannot run — kernels are then spawned."""
        from tributary_analysis.reports._kernel_zygote import Zygote

        if not self.use_zygote:
            return None
        env = dict(os.environ)
        z = self.zygote
        if z is not None and (z.key != tuple(sorted(env.items())) or not z.alive
                              or z.proc.poll() is not None):
            z.close()
            z = self.zygote = None
        if z is None:
            try:
                z = self.zygote = Zygote(env, self.zygote_output)
            except OSError as exc:
                print(f"[warm pool] no kernel zygote ({exc}); kernels start as processes",
                      file=sys.stderr)
                self.use_zygote = False
                return None
        return z

    def _start(self, key: tuple[Any, ...], spec: dict[str, Any],
               preload: list[tuple[str, tuple[str, ...]]]) -> WarmKernel:
        return WarmKernel(key, spec["kernel_name"], spec["cwd"], dict(os.environ), preload,
                          zygote=self._zygote(), zygote_preload=notebook_imports(spec["input"]))

    def _kernel(self, spec: dict[str, Any], key: tuple[Any, ...]) -> WarmKernel:
        spare, self.spare = self.spare, None
        if spare is not None:
            if spare.key == key and spare.ready(float(spec.get("start_timeout", 60))):
                return spare
            spare.close()
        return self._start(key, spec, [])

    def handle(self, msg: dict[str, Any], reply: IO[bytes]) -> None:
        from tributary_analysis.reports._worker import _write, execute, never_started, retry_line

        spec, job = msg["spec"], msg["job"]
        t0 = time.monotonic()
        key = (spec["kernel_name"], spec["cwd"], tuple(sorted(job["env"].items())))
        with _output_to(msg["log"]), _environment(job["env"]):
            kernel = self._kernel(spec, key)
            kernel.relay.attach()
            if msg.get("prestart", True):
                try:
                    self.spare = self._start(key, spec, notebook_imports(spec["input"]))
                except Exception as exc:  # the next job starts its own kernel
                    print(f"[warm pool] could not pre-start the next kernel: "
                          f"{type(exc).__name__}: {exc}", file=sys.stderr)
            code = None
            try:
                result = execute(spec, km=kernel.km)
                code = kernel.exit_code()
            finally:
                kernel.close()
            if never_started(result, spec["output"]):  # once, spawned, not forked
                print(f"{retry_line(result, 'warm pool')} (exit code {code})",
                      file=sys.stderr, flush=True)
                kernel = WarmKernel(key, spec["kernel_name"], spec["cwd"], dict(os.environ), [])
                kernel.relay.attach()
                try:
                    result = execute(spec, km=kernel.km)
                finally:
                    kernel.close()
        _write(spec["result"], result)
        duration = time.monotonic() - t0
        write_frame(reply, {"executed": result["status"]})
        publish = msg.get("publish")
        if publish is not None:
            write_frame(reply, _publish(publish, spec, job, result, duration, msg["log"]))

    def close(self) -> None:
        if self.spare is not None:
            self.spare.close()
            self.spare = None
        if self.zygote is not None:
            self.zygote.close()
            self.zygote = None


def _publish(publish: dict[str, Any], spec: dict[str, Any], job: dict[str, Any],
             result: dict[str, Any], duration: float, log: str) -> dict[str, Any]:
    """Publish the run here (scrub, page, ledger); the parent receives the record."""
    from tributary_analysis.config import load_settings
    from tributary_analysis.errors import OutputError
    from tributary_analysis.reports.execute import ExecutionResult, WorkerOutcome
    from tributary_analysis.reports.publish import publish as publish_run
    from tributary_analysis.reports.scrub import Scrubber

    nb_path, log_path = Path(spec["output"]), Path(log)
    executed = ExecutionResult(
        job["job_id"], False, duration, 0 if result["status"] == "ok" else 1,
        WorkerOutcome.from_dict(result), nb_path.read_bytes() if nb_path.exists() else None,
        log_path.read_bytes(), timeout=float(job["timeout"]))
    try:
        settings = load_settings()
        record = publish_run(publish["prepared"], executed, settings=settings,
                             scrubber=Scrubber.from_environment(settings),
                             writers=publish["writers"])
    except OutputError as exc:
        return {"error": "OutputError", "message": str(exc), "path": exc.path,
                "errno": exc.errno}
    except Exception as exc:
        return {"error": type(exc).__name__, "message": str(exc)}
    return {"record": record}


def save_notebooks_fast() -> bool:
    """Make papermill's saves of the running notebook cheap in this worker; False if this
    papermill has no ``engines.write_ipynb`` to replace.

    papermill writes the whole notebook at every cell's start and end (so the
    whole-notebook timeout can show how far it got) through ``nbformat.writes``: a schema
    validation and json's pure-Python indenting encoder, ~47 ms for a tenant report's
    notebook, 37 times per notebook — about a second of the worker's CPU for every report.
    Those files live in the private work area and are read back only by the publish step
    (``nbformat.reads``, which validates), so here they are written with orjson, the same
    document unvalidated; a notebook orjson cannot encode is written as before.
    """
    import orjson
    import papermill.engines as engines

    original = getattr(engines, "write_ipynb", None)
    if original is None or getattr(original, "_tributary_fast", False):
        return original is not None

    def write_ipynb(nb: Any, path: Any) -> None:
        if not isinstance(path, str | os.PathLike) or "://" in os.fspath(path):
            original(nb, path)
            return
        try:
            data = orjson.dumps(nb, option=orjson.OPT_INDENT_2)
        except TypeError:
            original(nb, path)
            return
        with open(path, "wb") as fh:
            fh.write(data + b"\n")

    write_ipynb._tributary_fast = True  # type: ignore[attr-defined]
    engines.write_ipynb = write_ipynb
    return True


def main(argv: list[str]) -> int:
    from tributary_analysis.reports._lifeline import PARENT_ENV, die_with_parent
    from tributary_analysis.reports._worker import _kill_kernels_and_exit

    worker: Worker | None = None

    def kill_all() -> None:  # forked kernels are the zygote's children, not ours
        if worker is not None and worker.zygote is not None:
            worker.zygote.kill_kernels()
        _kill_kernels_and_exit()

    die_with_parent(kill_all)
    os.environ[PARENT_ENV] = str(os.getpid())  # every kernel's (or zygote's) parent is us
    reply = os.fdopen(int(argv[0]), "wb")
    # the imports a one-shot worker pays for every notebook, paid once here
    import jupyter_client.manager  # noqa: F401
    import papermill  # noqa: F401

    import tributary_analysis.reports.publish  # noqa: F401 - nbconvert, the page, the ledger

    save_notebooks_fast()
    worker = Worker(zygote_output=os.dup(1))  # fd 1 now: this worker's own log
    try:
        while (msg := read_frame(sys.stdin.buffer)) is not None:
            worker.handle(msg, reply)
    finally:
        worker.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
