"""Prepare a report run: parameters, names, the kernel — every check before anything runs.

:func:`prepare` turns a :class:`RunRequest` into a :class:`PreparedRun`: the notebook's
declared parameters checked against what was asked, the window and tenant injected, no
credential in any parameter (papermill writes parameters into the executed notebook), the
kernelspec in place, and an :class:`~tributary_analysis.reports.execute.ExecutionJob` that
carries everything an executor needs — and no secret: the executor's own environment holds
those, so a job can be shipped to another process or machine as JSON.
"""

from __future__ import annotations

import ast
import hashlib
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import papermill

from tributary_analysis.config import Settings
from tributary_analysis.errors import ConfigError, DataError
from tributary_analysis.ground.time import Window, iso
from tributary_analysis.reports.execute import ExecutionJob
from tributary_analysis.reports.kernel import ensure_kernelspec
from tributary_analysis.reports.registry import ReportSpec
from tributary_analysis.reports.scrub import Scrubber

DEFAULT_TIMEOUT = 900.0
#: parameters the runner injects; a notebook declares the ones it wants
INJECTED = ("start", "end", "since", "tenant", "tenants")


def tenant_id(value: object, *, where: str = "tenant") -> str:
    """An untrusted tenant id as text: strings as they are, integers (``tenants: [123]`` in
    YAML) as their digits; anything else is refused, since its text is not what was meant
    (YAML reads ``1.10`` as ``1.1`` and ``no`` as ``False``).

    Examples
    --------
    >>> tenant_id("acme"), tenant_id(123)
    ('acme', '123')
    """
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise DataError(f"{where}={value!r} is a {type(value).__name__}, not a tenant id; quote "
                    f"it (\"{value}\") so that it is read as text")


@dataclass(frozen=True)
class RunRequest:
    """One notebook execution: a report, its window, its parameters, maybe a tenant."""

    spec: ReportSpec
    window: Window
    parameters: dict[str, Any] = field(default_factory=dict)
    tenant: str | None = None
    schedule: str | None = None

    def __post_init__(self) -> None:
        if self.tenant is not None:
            object.__setattr__(self, "tenant", tenant_id(self.tenant))
        if not isinstance(self.window, Window):
            raise ConfigError(f"report {self.spec.name!r}: window must be a "
                              "ground.time.Window (parse_window), got "
                              f"{type(self.window).__name__}")
        # a window ending at a fractional "now" moves back to the whole second, its length
        # kept: reruns of one window get identical parameters, and an explicit length
        # (--since 250ms) or an explicit whole-second window is never changed
        end = self.window.end.floor("s")
        if end != self.window.end:
            object.__setattr__(self, "window", self.window.shift(end - self.window.end))


def tenant_slug(tenant: str) -> str:
    """A directory-safe, collision-free name for an untrusted tenant id."""
    tenant = tenant_id(tenant)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", tenant).strip("._")[:40] or "tenant"
    return f"{safe}-{hashlib.sha256(tenant.encode()).hexdigest()[:8]}"


def notebook_parameters(path: Path) -> dict[str, str]:
    """The parameters a notebook declares (its ``parameters`` cell): name → default source.

    Read with :mod:`ast` rather than ``papermill.inspect_notebook``, whose line regex skips
    assignments like ``x = None  # None = all`` and would make us refuse real parameters.
    """
    if not path.exists():
        raise ConfigError(f"report notebook {path} does not exist; check the registry or "
                          "pull the notebooks")
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise ConfigError(f"{path} has no cell tagged 'parameters'; tag the cell that sets "
                          "start and end")
    try:
        tree = ast.parse(cells[0].source)
    except SyntaxError:
        return {k: str(v.get("default")) for k, v in
                papermill.inspect_notebook(str(path)).items()}
    out: dict[str, str] = {}
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign) else [])
        for t in targets:
            if isinstance(t, ast.Name) and node.value is not None:
                out[t.id] = ast.unparse(node.value)
    return out


def build_parameters(req: RunRequest, declared: dict[str, Any]) -> dict[str, Any]:
    """Defaults, then user parameters, then the window/tenant; unknown names are refused."""
    unknown = sorted(set(req.parameters) - set(declared))
    if unknown:
        raise ConfigError(
            f"report {req.spec.name!r}: unknown parameter(s) {', '.join(unknown)}; "
            f"{req.spec.notebook.name} declares: {', '.join(sorted(declared)) or '(none)'}"
        )
    params: dict[str, Any] = {**req.spec.parameters, **req.parameters}
    start, end = req.window.iso()
    for name in ("start", "end"):
        if name not in declared:
            raise ConfigError(
                f"report {req.spec.name!r}: {req.spec.notebook.name} has no {name!r} "
                "parameter; add start and end to its cell tagged 'parameters'"
            )
    params["start"], params["end"] = start, end
    if "since" in declared:
        params["since"] = None  # the window is start/end; a default since would conflict
    if req.tenant is not None:
        if "tenant" in declared:
            params["tenant"] = req.tenant
        elif "tenants" in declared:
            params["tenants"] = [req.tenant]
        else:
            raise ConfigError(
                f"report {req.spec.name!r} takes no tenant (its notebook declares neither "
                "'tenant' nor 'tenants'); drop --tenant for it"
            )
    elif req.spec.per_tenant:
        raise ConfigError(f"report {req.spec.name!r} is per tenant: pass --tenant ID or "
                          "--tenant all")
    return params


def check_no_credentials(params: dict[str, Any], scrubber: Scrubber) -> None:
    """Refuse a parameter whose value is a secret in effect (it would be written out)."""
    probe = Scrubber(scrubber.values)
    for key, value in params.items():
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(t, str) and probe.text(t) != t for t in texts):
            raise ConfigError(f"parameter {key!r} carries a credential; parameters are "
                              "written into the report — use the environment or config file")


def validate(req: RunRequest) -> dict[str, Any]:
    """The run's parameters, or the :class:`ConfigError` that stops it before it starts."""
    return build_parameters(req, notebook_parameters(req.spec.notebook))


@dataclass(frozen=True)
class PreparedRun:
    """A checked run, named and ready for an executor; nothing written under ``--out`` yet."""

    request: RunRequest
    parameters: dict[str, Any]
    run_id: str
    dirname: str
    out_dir: Path
    started: pd.Timestamp
    batch: str
    timeout: float
    job: ExecutionJob

    @property
    def rel_dir(self) -> Path:
        """The run's directory relative to ``out_dir``: ``<report>/<run_id>[--tenant]``."""
        return Path(self.request.spec.name) / self.dirname

    @property
    def run_dir(self) -> Path:
        return self.out_dir / self.rel_dir


def new_run_id(now: pd.Timestamp | None = None) -> str:
    """``20260131T120000Z-1a2b3c``: sortable by time, unique across processes."""
    now = now if now is not None else pd.Timestamp.now(tz="UTC")
    return iso(now.floor("s")).replace("-", "").replace(":", "") + "-" + uuid.uuid4().hex[:6]


def prepare(
    req: RunRequest,
    out_dir: Path,
    *,
    settings: Settings,
    scrubber: Scrubber,
    batch: str = "",
    timeout: float = DEFAULT_TIMEOUT,
    cell_timeout: float | None = None,
) -> PreparedRun:
    """Check ``req`` and describe its execution; raises :class:`ConfigError` on any mistake.

    Parameters
    ----------
    req : RunRequest
        What to run.
    out_dir : Path
        The reports directory; recorded, not written.
    settings : Settings
        Where the kernelspec lives (``$TRIBUTARY_HOME/jupyter``).
    scrubber : Scrubber
        The secrets in effect: a parameter carrying one is refused.
    batch : str
        The batch id (the ledger's and the notebook's ``TRIBUTARY_REPORT_BATCH``).
    timeout, cell_timeout : float
        Whole-notebook limit (kernel start included) and papermill's per-cell limit, seconds.
    """
    if timeout <= 0:
        raise ConfigError(f"--timeout must be positive, got {timeout:g} s")
    params = validate(req)
    check_no_credentials(params, scrubber)
    started = pd.Timestamp.now(tz="UTC")
    run_id = new_run_id(started)
    dirname = run_id + (f"--{tenant_slug(req.tenant)}" if req.tenant is not None else "")
    try:
        kernel_name, kernel_dir = ensure_kernelspec((settings.home / "jupyter").resolve())
    except OSError as exc:
        raise ConfigError(f"cannot write the reports' kernelspec under {settings.home}: "
                          f"{exc.strerror}; set TRIBUTARY_HOME to a writable directory"
                          ) from None
    notebook = req.spec.notebook.resolve()
    job = ExecutionJob(
        job_id=dirname,
        notebook=str(notebook),
        parameters=params,
        kernel_name=kernel_name,
        cwd=str(notebook.parent),
        timeout=float(timeout),
        cell_timeout=cell_timeout,
        env={
            "PLOTLY_RENDERER": "plotly_mimetype",  # figures as JSON; html.py draws them
            "JUPYTER_PATH": str(kernel_dir),
            "JUPYTER_PLATFORM_DIRS": "1",
            "PYDEVD_DISABLE_FILE_VALIDATION": "1",
            "TRIBUTARY_REPORTS_DIR": str(Path(out_dir).resolve()),
            "TRIBUTARY_REPORT_BATCH": batch,
        },
    )
    return PreparedRun(request=req, parameters=params, run_id=run_id, dirname=dirname,
                       out_dir=Path(out_dir), started=started, batch=batch,
                       timeout=float(timeout), job=job)
