"""Go programs built from their modules with the machine's Go, cached outside the clone.

Prometheus 3 and Jaeger v2 are not Debian packages, so the project builds them from the Go
modules (the module proxy is the one source the machine reaches) and keeps the binaries in
``$TRIBUTARY_CACHE/bin/<name>-<version>/`` (default ``~/.cache/tributary``), keyed by program
and version, reused on every later run and by every clone.

A build is atomic: it goes to a temporary directory beside the target, gets a ``build.json``
stamp last, and is renamed into place; a killed build leaves no half binary behind (only a
temporary directory that the next build removes). A file lock serialises concurrent builds of
the same program (``make`` starting a background build while ``demo up`` asks for it).

The version is stamped via ``-ldflags -X`` exactly as the projects' release tooling does, so
Prometheus's ``/api/v1/status/buildinfo`` and Jaeger's ``version`` report the real release.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tributary_analysis.errors import StackError

Echo = Callable[[str], None]

#: where the machine's Go lives when it is not on PATH (the image installs it there)
GO_FALLBACK = Path("/usr/local/go/bin/go")
#: seconds between two progress lines while a build runs
PROGRESS_EVERY = 20.0


@dataclass(frozen=True)
class GoProgram:
    """One program (one or more ``main`` packages) of one Go module version.

    Attributes
    ----------
    name : str
        Cache key and the name printed in progress lines (``prometheus``).
    module, version : str
        The Go module and its version (``github.com/prometheus/prometheus``, ``v0.316.0``).
    release : str
        The product release this module version is (``3.16.0``); part of the cache key.
    packages : tuple of str
        ``main`` packages inside the module (``cmd/prometheus``); each gives one binary.
    tags : tuple of str
        Build tags (``remove_all_sd`` leaves Prometheus's cloud discovery SDKs out).
    stamp : dict
        ``-X`` settings (``import/path.var`` → value); ``{commit}`` and ``{date}`` are filled
        from the module's origin (``.info``) when known.
    """

    name: str
    module: str
    version: str
    release: str
    packages: tuple[str, ...]
    tags: tuple[str, ...] = ()
    stamp: dict[str, str] = field(default_factory=dict)

    @property
    def binaries(self) -> tuple[str, ...]:
        return tuple(pkg.rstrip("/").rsplit("/", 1)[-1] for pkg in self.packages)

    @property
    def key(self) -> str:
        return f"{self.name}-{self.release}"


_PROM_VERSION = "github.com/prometheus/common/version"

#: Prometheus 3.16 (``v0.316.0``): prometheus + promtool, without the cloud service discovery
PROMETHEUS = GoProgram(
    name="prometheus",
    module="github.com/prometheus/prometheus",
    version="v0.316.0",
    release="3.16.0",
    packages=("cmd/prometheus", "cmd/promtool"),
    tags=("remove_all_sd",),
    stamp={
        f"{_PROM_VERSION}.Version": "3.16.0",
        f"{_PROM_VERSION}.Revision": "{commit}",
        f"{_PROM_VERSION}.Branch": "HEAD",
        f"{_PROM_VERSION}.BuildUser": "tributary",
        f"{_PROM_VERSION}.BuildDate": "{date_compact}",
    },
)

_JAEGER_VERSION = "github.com/jaegertracing/jaeger/internal/version"

#: Jaeger v2.13.0 (the module's ``v1.76.0`` tag is the same commit): the v2 ``jaeger`` binary
JAEGER = GoProgram(
    name="jaeger",
    module="github.com/jaegertracing/jaeger",
    version="v1.76.0",
    release="2.13.0",
    packages=("cmd/jaeger",),
    stamp={
        f"{_JAEGER_VERSION}.commitSHA": "{commit}",
        f"{_JAEGER_VERSION}.latestVersion": "v2.13.0",
        f"{_JAEGER_VERSION}.date": "{date}",
    },
)

PROGRAMS = {p.name: p for p in (PROMETHEUS, JAEGER)}


def cache_root() -> Path:
    """``$TRIBUTARY_CACHE``, else ``$XDG_CACHE_HOME/tributary``, else ``~/.cache/tributary``."""
    env = os.environ.get("TRIBUTARY_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "tributary"


def bin_dir(program: GoProgram, root: Path | None = None) -> Path:
    """The directory holding ``program``'s binaries once built."""
    return (root or cache_root()) / "bin" / program.key


def cached(program: GoProgram, root: Path | None = None) -> Path | None:
    """The complete build of ``program`` in the cache, or None (never a half build)."""
    target = bin_dir(program, root)
    if not (target / "build.json").is_file():
        return None
    if all(os.access(target / b, os.X_OK) for b in program.binaries):
        return target
    return None


def binary(program: GoProgram, name: str | None = None, root: Path | None = None) -> Path | None:
    """Path of one cached binary of ``program`` (default: its first), or None if not built."""
    target = cached(program, root)
    return None if target is None else target / (name or program.binaries[0])


def find_go() -> Path:
    """The Go toolchain: ``$TRIBUTARY_GO``, ``go`` on PATH, or ``/usr/local/go/bin/go``."""
    env = os.environ.get("TRIBUTARY_GO")
    candidates = [Path(env)] if env else []
    on_path = shutil.which("go")
    if on_path:
        candidates.append(Path(on_path))
    candidates.append(GO_FALLBACK)
    for cand in candidates:
        if cand.is_file() and os.access(cand, os.X_OK):
            return cand
    raise StackError("no Go toolchain found (looked at $TRIBUTARY_GO, PATH and "
                     f"{GO_FALLBACK}); install Go >= 1.26 or set TRIBUTARY_GO to its 'go'")


def _go_env(go: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GOFLAGS", "-buildvcs=false")
    env["GOTOOLCHAIN"] = "local"  # never fetch another toolchain behind the user's back
    env.setdefault("CGO_ENABLED", "0")
    env["PATH"] = f"{go.parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _run(go: Path, args: Sequence[str], *, cwd: Path, env: dict[str, str],
         what: str) -> str:
    proc = subprocess.run([str(go), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          check=False, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise StackError(f"{what} failed (go {' '.join(args)}, exit {proc.returncode}); "
                         f"check that the Go module proxy is reachable:\n{tail}")
    return proc.stdout


def module_info(program: GoProgram, *, go: Path | None = None) -> dict[str, Any]:
    """``go mod download -json`` of the module: its source dir, go.mod, ``.info`` origin."""
    go = go or find_go()
    env = _go_env(go)
    out = _run(go, ["mod", "download", "-json", f"{program.module}@{program.version}"],
               cwd=Path(tempfile.gettempdir()), env=env,
               what=f"downloading {program.module}@{program.version}")
    info: dict[str, Any] = json.loads(out)
    try:
        info["origin"] = json.loads(Path(info["Info"]).read_text())
    except (OSError, KeyError, ValueError):
        info["origin"] = {}
    return info


def _replace_directives(gomod: str) -> list[str]:
    """The ``replace`` lines of a go.mod (one-line and block forms)."""
    out: list[str] = []
    in_block = False
    for raw in gomod.splitlines():
        line = raw.split("//", 1)[0].strip()
        if in_block:
            if line == ")":
                in_block = False
            elif line:
                out.append(line)
        elif line.startswith("replace ("):
            in_block = True
        elif line.startswith("replace "):
            out.append(line[len("replace "):])
    return out


def _ldflags(program: GoProgram, origin: dict[str, Any]) -> str:
    commit = str((origin.get("Origin") or {}).get("Hash") or "unknown")
    date = str(origin.get("Time") or "")
    compact = ""
    m = re.match(r"(\d{4})-(\d\d)-(\d\d)T(\d\d:\d\d:\d\d)", date)
    if m:
        compact = f"{m[1]}{m[2]}{m[3]}-{m[4]}"  # promu's BuildDate form
    values = {"commit": commit, "date": date, "date_compact": compact}
    parts = ["-s", "-w"]
    for var, value in program.stamp.items():
        parts.append(f"-X {var}={value.format(**values)}")
    return " ".join(parts)


class _Progress:
    """Counts the packages ``go build -v`` names on stderr; prints a line now and then."""

    def __init__(self, program: GoProgram, echo: Echo, every: float) -> None:
        self.program, self.echo, self.every = program, echo, every
        self.packages = 0
        self.t0 = time.monotonic()
        self.tail: list[str] = []
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, daemon=True)

    def __enter__(self) -> _Progress:
        self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._ticker.join(timeout=1)

    def feed(self, stream: IO[str]) -> None:
        for line in stream:
            line = line.rstrip()
            if not line:
                continue
            if line.startswith("go: downloading"):
                continue
            if re.fullmatch(r"[\w.\-/~+]+", line):
                self.packages += 1
            else:
                self.tail = [*self.tail, line][-30:]

    def _tick(self) -> None:
        while not self._stop.wait(self.every):
            self.echo(f"  building {self.program.name} {self.program.release}: "
                      f"{self.packages} packages compiled, "
                      f"{time.monotonic() - self.t0:.0f} s")


@contextlib.contextmanager
def _lock(path: Path, echo: Echo, name: str, every: float) -> Iterator[None]:
    """An exclusive lock on ``path``; while another process holds it, say so now and then."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        t0 = time.monotonic()
        last = -every
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - t0
                if waited - last >= every:
                    last = waited
                    echo(f"  waiting for another build of {name} to finish ({waited:.0f} s; "
                         f"its log: {path.with_suffix('.log')})")
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _build_into(program: GoProgram, out: Path, *, go: Path, env: dict[str, str],
                info: dict[str, Any], echo: Echo, every: float) -> None:
    """Compile ``program``'s packages into ``out`` (a fresh directory)."""
    pkgs = [f"{program.module}/{p}" for p in program.packages]
    flags = ["-trimpath", "-v", "-ldflags", _ldflags(program, info["origin"])]
    if program.tags:
        flags += ["-tags", ",".join(program.tags)]
    gomod = Path(info["GoMod"]).read_text() if info.get("GoMod") else ""
    replaces = _replace_directives(gomod)
    if not replaces:
        # the module's own go.mod decides every dependency: ``go install pkg@version``
        argv = [str(go), "install", *flags, *(f"{p}@{program.version}" for p in pkgs)]
        cwd = out
        env = {**env, "GOBIN": str(out)}
    else:
        # ``go install pkg@version`` refuses modules with replace directives: a throwaway
        # main module requiring the program's module with the same replacements builds the
        # same dependency graph
        cwd = out / ".module"
        cwd.mkdir()
        (cwd / "go.mod").write_text(
            "module tributary.local/gobuild\n\n"
            f"go {_go_directive(gomod)}\n\n"
            f"require {program.module} {program.version}\n\n"
            + "".join(f"replace {r}\n" for r in replaces))
        _run(go, ["get", *(f"{p}@{program.version}" for p in pkgs)], cwd=cwd, env=env,
             what=f"resolving {program.module}@{program.version}")
        argv = [str(go), "build", *flags, "-o", str(out) + os.sep, *pkgs]
    with _Progress(program, echo, every) as progress:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        progress.feed(proc.stderr)
        code = proc.wait()
    if code != 0:
        raise StackError(f"building {program.name} {program.release} failed (exit {code}; "
                         f"{' '.join(argv[:2])} … {' '.join(pkgs)}):\n" + "\n".join(
                             progress.tail[-15:]))
    if cwd != out:
        shutil.rmtree(cwd, ignore_errors=True)
    echo(f"  built {program.name} {program.release}: {progress.packages} packages in "
         f"{time.monotonic() - progress.t0:.0f} s")


def _go_directive(gomod: str) -> str:
    m = re.search(r"^go\s+(\S+)", gomod, re.MULTILINE)
    return m[1] if m else "1.24"


def ensure(
    program: GoProgram, *, root: Path | None = None, echo: Echo | None = None,
    every: float = PROGRESS_EVERY,
) -> Path:
    """The directory with ``program``'s binaries: from the cache, else built now.

    Parameters
    ----------
    program : GoProgram
        :data:`PROMETHEUS` or :data:`JAEGER` (or another module program).
    root : Path, optional
        Cache root (default :func:`cache_root`).
    echo : callable, optional
        Receives progress lines (default: stderr).
    every : float
        Seconds between progress lines while compiling.

    Raises
    ------
    StackError
        When Go is missing, the module cannot be downloaded or the build fails.
    """
    say: Echo = echo or (lambda msg: print(msg, file=sys.stderr, flush=True))
    done = cached(program, root)
    if done is not None:
        return done
    target = bin_dir(program, root)
    with _lock(target.parent / f".{program.key}.lock", say, program.name, every):
        done = cached(program, root)  # another process may have built it while we waited
        if done is not None:
            return done
        for stale in target.parent.glob(f".{program.key}.tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)  # left by a killed build
        go = find_go()
        t0 = time.monotonic()
        say(f"building {program.name} {program.release} from {program.module}@"
            f"{program.version} with {go} (once; cached in {target}) ...")
        info = module_info(program, go=go)
        tmp = Path(tempfile.mkdtemp(prefix=f".{program.key}.tmp-", dir=target.parent))
        try:
            _build_into(program, tmp, go=go, env=_go_env(go), info=info, echo=say,
                        every=every)
            missing = [b for b in program.binaries if not (tmp / b).is_file()]
            if missing:
                raise StackError(f"the build of {program.name} produced no {missing}; "
                                 f"see {tmp}")
            stamp = {"program": program.name, "module": program.module,
                     "version": program.version, "release": program.release,
                     "tags": list(program.tags), "go": _go_version(go),
                     "seconds": round(time.monotonic() - t0, 1),
                     "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                     "binaries": list(program.binaries)}
            (tmp / "build.json").write_text(json.dumps(stamp, indent=2))
            tmp.chmod(0o755)
            if target.exists():  # an incomplete target (no build.json): replace it
                shutil.rmtree(target)
            os.rename(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def _go_version(go: Path) -> str:
    proc = subprocess.run([str(go), "env", "GOVERSION"], capture_output=True, text=True,
                          check=False)
    return proc.stdout.strip()


def build_info(program: GoProgram, root: Path | None = None) -> dict[str, Any] | None:
    """The ``build.json`` stamp of a cached build (module, version, Go, seconds)."""
    target = cached(program, root)
    if target is None:
        return None
    try:
        data: dict[str, Any] = json.loads((target / "build.json").read_text())
    except (OSError, ValueError):
        return None
    return data


def log_path(root: Path | None = None) -> Path:
    """Where a background build (``--background``) writes its progress."""
    return (root or cache_root()) / "bin" / "gobuild.log"


def start_background(names: Sequence[str], root: Path | None = None) -> int | None:
    """Build ``names`` in a detached process (``make`` overlaps it with the venv setup).

    Returns its PID, or None when everything is cached already. The builds take the same
    locks, so a later :func:`ensure` waits for this process instead of building twice.
    """
    programs = [PROGRAMS[n] for n in names]
    if all(cached(p, root) for p in programs):
        return None
    log = log_path(root)
    log.parent.mkdir(parents=True, exist_ok=True)
    pkg_root = Path(__file__).resolve().parents[2]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(pkg_root),
                                                      env.get("PYTHONPATH", "")]))
    with open(log, "ab") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "tributary_analysis.stack.gobuild",
                                 *names], stdin=subprocess.DEVNULL, stdout=fh,
                                stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                close_fds=True)
    return proc.pid


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tributary_analysis.stack.gobuild [--background] [NAME ...]``.

    Builds (or finds in the cache) each named program in order: ``prometheus`` first, then
    ``jaeger``; prints the binary directory of each. With ``--background`` the builds run in
    a detached process and this returns at once.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m tributary_analysis.stack.gobuild",
                                     description="Build and cache Prometheus 3 / Jaeger v2.")
    parser.add_argument("names", nargs="*", default=["prometheus", "jaeger"],
                        choices=sorted(PROGRAMS), metavar="NAME",
                        help="prometheus, jaeger (default: both, Prometheus first)")
    parser.add_argument("--background", action="store_true",
                        help="build in a detached process; log in the cache's bin/gobuild.log")
    args = parser.parse_args(argv)
    say: Echo = lambda msg: print(msg, flush=True)  # noqa: E731
    if args.background:
        pid = start_background(args.names)
        if pid is None:
            say(f"cached: {', '.join(args.names)} ({cache_root() / 'bin'})")
        else:
            say(f"building {', '.join(args.names)} in the background (PID {pid}); "
                f"progress in {log_path()}")
        return 0
    try:
        for name in args.names:
            say(f"{name}: {ensure(PROGRAMS[name], echo=say)}")
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
