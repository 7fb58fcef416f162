"""A real Elasticsearch for the demo stack: fetch with Maven, install, secure, start.

We run the *integ-test* distribution (``org.elasticsearch.distribution.integ-test-zip``):
the smallest 9.x build on Maven Central. It ships only four modules (``apm``,
``transport-netty4``, ``x-pack-core``, ``x-pack-security``): no painless, no ingest
processors, no analysis-common. What that means for queries is in ``docs/elasticsearch.md``.

Security is on. Users live in the file realm: this module writes ``users`` (PBKDF2 hashes,
the format Elasticsearch's own ``elasticsearch-users`` tool writes), ``roles.yml`` and
``users_roles`` before the node starts, so no API call or JVM tool is needed to set them up:

- an admin (``superuser``) used only by the loader, credentials in a 0600 admin file;
- a read-only reader (``read`` + ``view_index_metadata`` on ``tributary-logs-*``, cluster
  ``monitor``) whose credentials go into ``$TRIBUTARY_HOME/config.toml`` (0600), where
  :func:`tributary_analysis.config.load_settings` reads secrets.

HTTP is plain (no TLS): the node listens on 127.0.0.1 only, so credentials never leave the
machine; TLS on loopback would add a CA to manage and protect nothing more.

Elasticsearch refuses to run as root. As root we create the system user ``tributary-es``
and keep everything it touches under ``/var/lib/tributary-stack`` (``/root`` is 0700);
otherwise it runs as the current user under ``~/.cache/tributary-stack``.
``TRIBUTARY_ES_DIR`` overrides the location.
"""

from __future__ import annotations

import base64
import hashlib
import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from tributary_analysis.errors import StackError
from tributary_analysis.stack import procs

ES_VERSION = "9.2.4"
ARTIFACT = f"org.elasticsearch.distribution.integ-test-zip:elasticsearch:{ES_VERSION}:zip"
ES_USER = "tributary-es"
MIN_JAVA = 21
ADMIN_USER = "tributary_admin"
READER_USER = "tributary_reader"
READER_ROLE = "tributary_logs_reader"
INDEX_PATTERN = "tributary-logs-*"
MARKER = "org.elasticsearch.bootstrap.Elasticsearch"



def base_dir() -> Path:
    """Where distributions and instances live: readable by the Elasticsearch user."""
    env = os.environ.get("TRIBUTARY_ES_DIR")
    if env:
        return Path(env).expanduser()
    if os.geteuid() == 0:
        return Path("/var/lib/tributary-stack")
    return Path.home() / ".cache" / "tributary-stack"


def fetch_distribution(cache_dir: Path, version: str = ES_VERSION) -> Path:
    """The distribution zip in ``cache_dir``, resolved with Maven when not there yet.

    Maven reuses ``~/.m2`` when the artifact is already in the local repository.
    """
    target = cache_dir / f"elasticsearch-{version}.zip"
    if target.is_file() and zipfile.is_zipfile(target):
        return target
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("Maven ('mvn') is needed to fetch Elasticsearch; install the Debian "
                         "package 'maven' (apt-get install maven) or run 'make demo' as root")
    cache_dir.mkdir(parents=True, exist_ok=True)
    artifact = ARTIFACT.replace(ES_VERSION, version)
    cmd = [mvn, "-B", "-q", "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy",
           f"-Dartifact={artifact}", f"-DoutputDirectory={cache_dir}",
           "-Dmdep.overWriteReleases=true"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0 or not target.is_file():
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
        raise StackError(f"Maven could not fetch {artifact} into {cache_dir} "
                         f"(exit {proc.returncode}); check network access and ~/.m2:\n{tail}")
    return target


def install_distribution(zip_path: Path, dist_root: Path) -> Path:
    """Unzip once into ``dist_root/elasticsearch-<version>``, keeping executable bits."""
    version = zip_path.stem.removeprefix("elasticsearch-")
    home = dist_root / f"elasticsearch-{version}"
    if (home / "bin" / "elasticsearch").is_file():
        return home
    dist_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".unzip-", dir=dist_root))
    try:
        with zipfile.ZipFile(zip_path) as zf:
            for info in zf.infolist():
                path = Path(zf.extract(info, tmp))
                mode = (info.external_attr >> 16) & 0o777
                if mode and not info.is_dir():
                    path.chmod(mode | 0o444)
        top = next(p for p in tmp.iterdir() if p.is_dir())
        for path in [top, *top.rglob("*")]:
            if path.is_dir():
                path.chmod(0o755)
        top.rename(home)
    except (OSError, zipfile.BadZipFile, StopIteration) as exc:
        raise StackError(f"cannot unpack {zip_path} into {dist_root}: {exc}; delete the zip "
                         "to fetch it again") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return home


def _java_version(jdk: Path) -> tuple[int, ...] | None:
    release = jdk / "release"
    if not (jdk / "bin" / "java").is_file() or not release.is_file():
        return None
    match = re.search(r'^JAVA_VERSION="([0-9][0-9._]*)', release.read_text(), re.M)
    if not match:
        return None
    return tuple(int(x) for x in re.split(r"[._]", match.group(1)) if x.isdigit())


def find_jdk(search_dir: Path = Path("/usr/lib/jvm"), minimum: int = MIN_JAVA) -> Path:
    """The newest JDK ≥ ``minimum`` under ``search_dir`` (``TRIBUTARY_ES_JAVA_HOME`` wins)."""
    env = os.environ.get("TRIBUTARY_ES_JAVA_HOME")
    if env:
        version = _java_version(Path(env))
        if version is None or version[0] < minimum:
            raise StackError(f"TRIBUTARY_ES_JAVA_HOME={env} is not a JDK >= {minimum}; "
                             "point it at one or unset it")
        return Path(env)
    found: list[tuple[tuple[int, ...], Path]] = []
    if search_dir.is_dir():
        for jdk in search_dir.iterdir():
            if jdk.is_symlink():
                continue
            version = _java_version(jdk)
            if version and version[0] >= minimum:
                found.append((version, jdk))
    if not found:
        raise StackError(f"Elasticsearch {ES_VERSION} needs a JDK >= {minimum} under "
                         f"{search_dir} and none was found; install one (e.g. the "
                         "'temurin-25-jdk' package) or set TRIBUTARY_ES_JAVA_HOME")
    return max(found)[1]


def ensure_user(name: str = ES_USER) -> tuple[int, int] | None:
    """As root: the (uid, gid) of the dedicated user, created if missing; else None."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        entry = None
    if entry is None:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        proc = subprocess.run(
            [useradd, "--system", "--user-group", "--no-create-home",
             "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
            capture_output=True, text=True, check=False)
        if proc.returncode not in (0, 9):  # 9: created meanwhile by a parallel run
            raise StackError(f"cannot create the system user {name} for Elasticsearch: "
                             f"{proc.stderr.strip()}")
        entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


def hash_password(password: str, *, cost: int = 10000) -> str:
    """A file-realm PBKDF2 hash (``{PBKDF2}cost$salt$hash``, HMAC-SHA512, 256-bit key)."""
    salt = secrets.token_bytes(32)
    key = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, cost, dklen=32)
    return f"{{PBKDF2}}{cost}${base64.b64encode(salt).decode()}${base64.b64encode(key).decode()}"


def new_password() -> str:
    """A random password (URL- and TOML-safe)."""
    return secrets.token_urlsafe(24)


class Credentials(NamedTuple):
    """A user name and password, usable as ``basic_auth``; the password never shows in repr."""

    username: str
    password: str

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, password='********')"

    def as_tuple(self) -> tuple[str, str]:
        return (self.username, self.password)


@dataclass(frozen=True)
class Instance:
    """One node's directories and ports (a fresh one per ``up``)."""

    root: Path
    home: Path
    http_port: int
    transport_port: int

    @property
    def conf(self) -> Path:
        return self.root / "config"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def pidfile(self) -> Path:
        return self.root / "elasticsearch.pid"

    @property
    def console_log(self) -> Path:
        return self.logs / "console.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"


def prepare_instance(
    home: Path, root: Path, *, http_port: int, transport_port: int, admin: Credentials,
    reader: Credentials, heap: str = "1g", user: tuple[int, int] | None = None,
) -> Instance:
    """Write config, users and roles for a single 127.0.0.1 node under ``root``."""
    inst = Instance(root, home, http_port, transport_port)
    for d in (inst.conf, inst.data, inst.logs, inst.tmp, inst.conf / "jvm.options.d"):
        d.mkdir(parents=True, exist_ok=True)
    for name in ("jvm.options", "log4j2.properties"):
        shutil.copy2(home / "config" / name, inst.conf / name)
    (inst.conf / "jvm.options.d" / "tributary.options").write_text(
        f"-Xms{heap}\n-Xmx{heap}\n")
    (inst.conf / "elasticsearch.yml").write_text(
        "# written by tributary demo up\n"
        "cluster.name: tributary-demo\n"
        "node.name: tributary-es\n"
        "discovery.type: single-node\n"
        "network.host: 127.0.0.1\n"
        f"http.port: {http_port}\n"
        f"transport.port: {transport_port}\n"
        f"path.data: {inst.data}\n"
        f"path.logs: {inst.logs}\n"
        "xpack.security.enabled: true\n"
        "xpack.security.http.ssl.enabled: false\n"
        "xpack.security.transport.ssl.enabled: false\n"
        "action.destructive_requires_name: true\n"
        "cluster.routing.allocation.disk.threshold_enabled: false\n"
        "# a larger indexing buffer means fewer, larger segments (less merging) during the\n"
        "# bulk load of the demo logs\n"
        "indices.memory.index_buffer_size: 30%\n"
    )
    (inst.conf / "users").write_text(
        f"{admin.username}:{hash_password(admin.password)}\n"
        f"{reader.username}:{hash_password(reader.password)}\n")
    (inst.conf / "users_roles").write_text(
        f"superuser:{admin.username}\n{READER_ROLE}:{reader.username}\n")
    (inst.conf / "roles.yml").write_text(
        f"{READER_ROLE}:\n"
        "  cluster: ['monitor']\n"
        "  indices:\n"
        f"    - names: ['{INDEX_PATTERN}']\n"
        "      privileges: ['read', 'view_index_metadata']\n")
    (inst.conf / "role_mapping.yml").write_text("")
    if user is not None:
        os.chown(root, *user)
        for path in root.rglob("*"):
            os.chown(path, *user, follow_symlinks=False)
    root.chmod(0o750)
    inst.conf.chmod(0o750)
    for name in ("users", "users_roles", "roles.yml"):
        (inst.conf / name).chmod(0o640)
    return inst


def start(inst: Instance, *, jdk: Path, user: tuple[int, int] | None,
          heap_timeout: float = 0) -> procs.ProcessRef:
    """Launch the node (not waiting): returns the launcher process reference.

    ``bin/elasticsearch`` runs a small CLI JVM that starts the server JVM as its child and
    writes the server's PID to ``inst.pidfile``; :func:`server_ref` reads it.
    """
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "ES_JAVA_HOME": str(jdk),
        "ES_PATH_CONF": str(inst.conf),
        "ES_TMPDIR": str(inst.tmp),
        "LANG": "C.UTF-8",
    }
    if user is not None:
        env["HOME"] = str(inst.root)
    argv = [str(inst.home / "bin" / "elasticsearch"), "-p", str(inst.pidfile)]
    return procs.start_detached(argv, log_path=inst.console_log, marker=str(inst.home),
                                cwd=inst.logs, env=env, user=user)


def server_ref(inst: Instance) -> procs.ProcessRef | None:
    """The server JVM's reference, from the pid file it writes once started."""
    try:
        pid = int(inst.pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return procs.ref_for_pid(pid, MARKER, str(inst.console_log))


def wait_ready(inst: Instance, launcher: procs.ProcessRef, admin: Credentials,
               timeout: float = 180.0) -> None:
    """Wait until the cluster is at least yellow and the admin can log in."""
    procs.wait_http(
        f"{inst.url}/_cluster/health?wait_for_status=yellow&timeout=2s",
        ref=launcher, name="Elasticsearch", timeout=timeout, auth=admin.as_tuple(),
        log_path=inst.console_log,
    )


def stop_instance(launcher: procs.ProcessRef | None, server: procs.ProcessRef | None) -> None:
    """Stop the server JVM first (clean shutdown), then its launcher if it lingers."""
    if server is not None:
        procs.stop(server, timeout=60)
    if launcher is not None:
        procs.stop(launcher, timeout=15)


def write_reader_config(home: Path, reader: Credentials, url: str) -> Path:
    """Put the reader's credentials into ``$TRIBUTARY_HOME/config.toml`` [elasticsearch], 0600.

    Other tables and keys in the file are kept (comments are not: the file is rewritten).
    """
    import tomllib

    path = home / "config.toml"
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise StackError(f"cannot update {path}: it is not valid TOML ({exc}); fix or "
                             "remove it") from exc
    section = data.setdefault("elasticsearch", {})
    section["username"] = reader.username
    section["password"] = reader.password
    return _write_private(path, _dump_toml(data))


def write_admin_file(home: Path, admin: Credentials, url: str) -> Path:
    """The admin credentials, for loading only: ``$TRIBUTARY_HOME/elasticsearch-admin.toml``."""
    data = {"elasticsearch": {"url": url, "username": admin.username,
                              "password": admin.password}}
    return _write_private(home / "elasticsearch-admin.toml", _dump_toml(data))


def _write_private(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}"
                               for k, v in value.items()) + "}"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"'


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_value(key)


def _dump_toml(data: dict[str, Any]) -> str:
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in data.items()
             if not isinstance(v, dict)]
    for table, section in data.items():
        if isinstance(section, dict):
            lines += ["", f"[{_toml_key(table)}]"]
            lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in section.items()]
    return "\n".join(lines).lstrip("\n") + "\n"


def read_admin_file(home: Path) -> Credentials | None:
    """The admin credentials written by ``up``, if any."""
    import tomllib

    path = home / "elasticsearch-admin.toml"
    if not path.exists():
        return None
    section = tomllib.loads(path.read_text()).get("elasticsearch", {})
    return Credentials(section["username"], section["password"])
