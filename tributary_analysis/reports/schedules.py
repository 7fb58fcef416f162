"""Schedules: a YAML file of cron expressions → report runs, in-process or via crontab.

File format (see ``docs/reports.md``)::

    timezone: Europe/Berlin        # default for every schedule (else UTC)
    out: reports                   # output directory, relative to the file
    schedules:
      - name: daily-operations
        cron: "0 6 * * *"
        reports: [daily_operations]
        since: 24h
        parameters: {top_n: 10}
        tenants: []                 # or [all], or explicit ids (read as text)
        timezone: Europe/Berlin
        timeout: 15m                # seconds, or a duration
        formats: [html, pdf]        # pdf printed from the page by headless Chromium
        mail: {to: [sre@example.org], attach: pdf, when: always}   # see reports.deliver

``tributary schedule run`` drives them with APScheduler 3 (``BlockingScheduler`` +
``CronTrigger`` in the schedule's timezone, ``max_instances=1``); each firing also takes a
per-schedule file lock, so a crontab firing and a foreground scheduler — or two machines on
a shared volume — never run one schedule twice at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import shlex
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

from tributary_analysis.errors import ConfigError, DataError, ScheduleBusy, TributaryError
from tributary_analysis.ground.time import parse_duration, parse_window
from tributary_analysis.reports.deliver import MailAction, parse_mail

log = logging.getLogger(__name__)

_KEYS = {"name", "cron", "reports", "since", "parameters", "tenants", "timezone", "timeout",
         "jobs", "formats", "mail"}


_DOW_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _cron_dow(field: str) -> str:
    """Crontab day-of-week (0 or 7 = Sunday) → APScheduler 3 day names.

    APScheduler 3 numbers weekdays from Monday = 0 and ``CronTrigger.from_crontab`` passes
    the numbers through unchanged (agronholm/apscheduler#286, fixed only in 4.x): ``* * * * 1``
    would fire on Tuesdays. Numeric ranges and steps are expanded into explicit day lists.
    """
    if field == "*":
        return field
    out: list[str] = []
    for token in field.split(","):
        base, _, step_text = token.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            lo, hi = 0, 6
        elif "-" in base:
            a, b = base.split("-", 1)
            if not (a.isdigit() and b.isdigit()):
                out.append(token)  # names: APScheduler understands mon-fri
                continue
            lo, hi = int(a), int(b)
        elif base.isdigit():
            lo = hi = int(base)
            if step_text:
                hi = 6
        else:
            out.append(token)
            continue
        if not (0 <= lo <= 7 and 0 <= hi <= 7 and lo <= hi and step >= 1):
            raise ValueError(f"day-of-week {token!r} out of range 0-7")
        out.extend(_DOW_NAMES[d] for d in range(lo, hi + 1, step))
    return ",".join(dict.fromkeys(out))


def crontab_trigger(expr: str, tz: tzinfo) -> BaseTrigger:
    """A trigger that fires exactly when cron would for ``expr`` in ``tz``.

    Two differences from ``CronTrigger.from_crontab`` are corrected: weekday numbers (see
    :func:`_cron_dow`), and cron's rule that when both day-of-month and day-of-week are
    restricted a day matching *either* fires (APScheduler requires both).
    """
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields, got {len(fields)}")
    minute, hour, day, month, dow = fields
    dow = _cron_dow(dow)
    common = {"minute": minute, "hour": hour, "month": month, "timezone": tz}
    if day != "*" and dow != "*":
        return OrTrigger([CronTrigger(day=day, **common), CronTrigger(day_of_week=dow,
                                                                       **common)])
    return CronTrigger(day=day, day_of_week=dow, **common)


@dataclass(frozen=True)
class Schedule:
    """One cron line of the schedules file."""

    name: str
    cron: str
    reports: tuple[str, ...]
    timezone: str = "UTC"
    since: str = "24h"
    parameters: dict[str, Any] = field(default_factory=dict)
    tenants: tuple[str, ...] = ()
    timeout: float = 900.0
    jobs: int = 2
    formats: tuple[str, ...] = ("html",)
    mail: MailAction | None = None

    @property
    def tz(self) -> tzinfo:
        return ZoneInfo(self.timezone)

    def trigger(self) -> BaseTrigger:
        """The APScheduler trigger: five crontab fields in the schedule's timezone."""
        return crontab_trigger(self.cron, self.tz)

    def next_fire_times(self, n: int = 5, now: datetime | None = None) -> list[datetime]:
        """The next ``n`` fire times (timezone-aware, in the schedule's timezone)."""
        trig = self.trigger()
        now = (now or datetime.now(UTC)).astimezone(self.tz)
        out: list[datetime] = []
        prev = None
        current = now
        for _ in range(n):
            nxt = trig.get_next_fire_time(prev, current)
            if nxt is None:
                break
            out.append(nxt)
            prev = nxt
            current = nxt + timedelta(seconds=1)
        return out


@dataclass(frozen=True)
class ScheduleFile:
    """A parsed schedules file: where it is, where reports go, and its schedules."""

    path: Path
    out_dir: Path
    schedules: tuple[Schedule, ...]

    def __getitem__(self, name: str) -> Schedule:
        for s in self.schedules:
            if s.name == name:
                return s
        known = ", ".join(s.name for s in self.schedules) or "(none)"
        raise ConfigError(f"no schedule {name!r} in {self.path}; known: {known}")


def _raw_tenants(text: str) -> dict[int, list[str]]:
    """Each schedule's ``tenants`` as written, by schedule index.

    Tenant ids are text, but YAML 1.1 reads ``012`` as 10, ``1.10`` as 1.1 and ``no`` as
    False; the composed node keeps the characters of the file. A null (``~``) is refused.
    """
    root = yaml.compose(text)
    out: dict[int, list[str]] = {}
    if not isinstance(root, yaml.MappingNode):
        return out
    seq = next((v for k, v in root.value if getattr(k, "value", None) == "schedules"), None)
    if not isinstance(seq, yaml.SequenceNode):
        return out
    for i, item in enumerate(seq.value):
        if not isinstance(item, yaml.MappingNode):
            continue
        node = next((v for k, v in item.value if getattr(k, "value", None) == "tenants"), None)
        if node is None:
            continue
        nodes = node.value if isinstance(node, yaml.SequenceNode) else [node]
        ids = []
        for n in nodes:
            if not isinstance(n, yaml.ScalarNode) or n.tag.endswith(":null"):
                raise DataError(f"schedule #{i + 1}: 'tenants' must list tenant ids (text), "
                                f"got {n.value if isinstance(n, yaml.ScalarNode) else n.id!r}"
                                "; quote each id")
            ids.append(str(n.value))
        out[i] = ids
    return out


def _seconds(raw: Any, where: str) -> float:
    """``timeout: 900`` or ``timeout: 15m``."""
    return float(parse_duration(raw, name=f"{where}: timeout").total_seconds())


def load_schedules(path: Path, known_reports: set[str] | None = None) -> ScheduleFile:
    """Read and validate ``path``; every problem names the schedule and what to fix."""
    try:
        text = path.read_text()
        data = yaml.safe_load(text)
    except FileNotFoundError:
        raise ConfigError(f"schedules file {path} does not exist; see docs/reports.md "
                          "for an example") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"cannot parse schedules file {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("schedules"), list):
        raise ConfigError(f"{path}: expected a mapping with a 'schedules' list")
    default_tz = str(data.get("timezone", "UTC"))
    try:
        raw_tenants = _raw_tenants(text)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    out = Path(str(data.get("out", "reports")))
    out_dir = out if out.is_absolute() else (path.parent / out)
    seen: set[str] = set()
    items = []
    for i, raw in enumerate(data["schedules"]):
        where = f"{path}: schedule #{i + 1}"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where} must be a mapping")
        extra = set(raw) - _KEYS
        if extra:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(extra))}; "
                              f"known: {', '.join(sorted(_KEYS))}")
        name = str(raw.get("name") or "")
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise ConfigError(f"{where}: 'name' is required (letters, digits, - and _)")
        if name in seen:
            raise ConfigError(f"{where}: duplicate schedule name {name!r}")
        seen.add(name)
        where = f"{path}: schedule {name!r}"
        reports = raw.get("reports")
        reports = [reports] if isinstance(reports, str) else reports
        if not reports or not all(isinstance(r, str) for r in reports):
            raise ConfigError(f"{where}: 'reports' must list report names")
        if known_reports is not None:
            unknown = [r for r in reports if r not in known_reports]
            if unknown:
                raise ConfigError(f"{where}: unknown report(s) {', '.join(unknown)}; known: "
                                  f"{', '.join(sorted(known_reports))}")
        params = raw.get("parameters") or {}
        if not isinstance(params, dict):
            raise ConfigError(f"{where}: 'parameters' must be a mapping")
        from tributary_analysis.reports.params import check_not_secret

        for key in params:
            check_not_secret(str(key))
        tenants = raw_tenants.get(i, []) if raw.get("tenants") is not None else []
        jobs = raw.get("jobs", 2)
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
            raise ConfigError(f"{where}: 'jobs' must be a whole number of at least 1, got "
                              f"{jobs!r}")
        from tributary_analysis.reports.formats import parse_formats

        formats = parse_formats(raw.get("formats") if isinstance(
            raw.get("formats"), str | list | None) else str(raw.get("formats")))
        sched = Schedule(
            name=name, cron=str(raw.get("cron", "")), reports=tuple(reports),
            timezone=str(raw.get("timezone", default_tz)), since=str(raw.get("since", "24h")),
            parameters=dict(params), tenants=tuple(tenants),
            timeout=_seconds(raw.get("timeout", 900), where), jobs=jobs,
            formats=formats, mail=parse_mail(raw.get("mail"), where, formats),
        )
        try:
            sched.tz  # noqa: B018 - validate
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{where}: unknown timezone {sched.timezone!r}; use an IANA "
                              "name such as Europe/Berlin or UTC") from None
        try:
            sched.trigger()
        except ValueError as exc:
            raise ConfigError(f"{where}: invalid cron expression {sched.cron!r} ({exc}); "
                              "use five fields: minute hour day month weekday") from None
        parse_duration(sched.since, name=f"{where}: since")
        items.append(sched)
    return ScheduleFile(path=path, out_dir=out_dir, schedules=tuple(items))


@contextlib.contextmanager
def schedule_lock(out_dir: Path, name: str) -> Iterator[None]:
    """Non-blocking per-schedule lock; raises :class:`ScheduleBusy` if held elsewhere."""
    lock_dir = out_dir / ".locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with open(lock_dir / f"{name}.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ScheduleBusy(f"schedule {name!r} is still running (lock "
                               f"{lock_dir / (name + '.lock')}); this firing is skipped") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def fire(sched: Schedule, out_dir: Path) -> list[Any]:
    """Run one schedule now, under its lock; returns the run records.

    Failed runs go to the webhook (as every batch's do); with a ``mail`` block the runs'
    reports are mailed too, and a message that could not be sent raises
    :class:`~tributary_analysis.errors.ReportError` after all were tried.
    """
    from tributary_analysis.config import load_settings
    from tributary_analysis.reports.registry import default_registry, expand
    from tributary_analysis.reports.runner import run_reports
    from tributary_analysis.reports.tenants import plan

    registry = default_registry()
    with schedule_lock(out_dir, sched.name):
        window = parse_window(sched.since, names=("since", "start", "end"))
        specs = [registry[r] for r in expand(list(sched.reports), registry)]
        requests = plan(specs, window, tenants=sched.tenants, common=sched.parameters,
                        schedule=sched.name)
        settings = load_settings()
        records = run_reports(requests, out_dir, jobs=sched.jobs, timeout=sched.timeout,
                              formats=sched.formats, settings=settings)
        if sched.mail is not None:
            from tributary_analysis.reports.deliver import deliver

            deliver(records, sched.mail, out_dir, settings)
        return records


def _fire_logged(sched: Schedule, out_dir: Path) -> None:
    try:
        records = fire(sched, out_dir)
    except ScheduleBusy as exc:
        log.warning("%s", exc)
        return
    except TributaryError as exc:  # one line, as the CLI says it
        log.error("schedule %s: %s", sched.name, exc)
        return
    except Exception:
        log.exception("schedule %s could not run", sched.name)
        return
    failed = [r for r in records if not r.ok]
    log.info("schedule %s: %d run(s), %d failed", sched.name, len(records), len(failed))


def run_forever(sf: ScheduleFile) -> None:  # pragma: no cover - blocks; tested via build
    """Run every schedule in the foreground until interrupted."""
    scheduler = build_scheduler(sf)
    for job in scheduler.get_jobs():
        log.warning("schedule %s: next run %s", job.id, job.trigger.get_next_fire_time(
            None, datetime.now(UTC)))
    scheduler.start()


def build_scheduler(sf: ScheduleFile, blocking: bool = True) -> Any:
    """A scheduler with one job per schedule: no overlap, missed firings coalesced."""
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler

    cls = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = cls(timezone=UTC)
    for s in sf.schedules:
        scheduler.add_job(_fire_logged, s.trigger(), args=(s, sf.out_dir), id=s.name,
                          name=s.name, max_instances=1, coalesce=True,
                          misfire_grace_time=3600)
    return scheduler


def crontab_lines(sf: ScheduleFile, tributary: str | None = None) -> list[str]:
    """Equivalent crontab entries. Each calls ``tributary schedule fire NAME`` so the lock
    and parameters stay in one place; ``CRON_TZ`` precedes schedules not in UTC (cronie
    and systemd-cron honour it; Debian's cron does not — run it in UTC there)."""
    exe = tributary or shlex.quote(str(Path(sys.executable).with_name("tributary")))
    file = shlex.quote(str(sf.path.resolve()))
    lines = [f"# tributary schedules from {sf.path.resolve()}",
             "# CRON_TZ is honoured by cronie/systemd-cron; with Debian cron use UTC times."]
    current_tz = None
    for s in sf.schedules:
        if s.timezone != current_tz:
            lines.append(f"CRON_TZ={s.timezone}")
            current_tz = s.timezone
        cmd = (f"{exe} schedule fire {shlex.quote(s.name)} --file {file} "
               f">> {shlex.quote(str((sf.out_dir / 'cron.log').resolve()))} 2>&1")
        lines.append(f"{s.cron} {cmd.replace('%', chr(92) + '%')}")
    return lines
