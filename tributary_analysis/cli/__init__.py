"""The ``tributary`` command: a thin layer over the library.

Each command group lives in its own module and mirrors library arguments. Library errors
(:class:`~tributary_analysis.errors.TributaryError`) become one readable line on stderr and
exit code 2, in one place: :func:`main`. So does an operating-system error that escaped the
library (a file that cannot be written), and any other exception becomes one line too (its
traceback only with ``-vv``). Every such line is scrubbed of the secrets in effect.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from collections.abc import Callable

import click

from tributary_analysis.errors import TributaryError

#: command group name → module under tributary_analysis.cli that defines ``group``
_GROUPS: dict[str, str] = {
    "demo": "tributary_analysis.cli.demo",
    "prom": "tributary_analysis.cli.prom",
    "logs": "tributary_analysis.cli.logs",
    "report": "tributary_analysis.cli.report",
    "schedule": "tributary_analysis.cli.schedule",
    "config": "tributary_analysis.cli.config_cmd",
}


class _LazyGroup(click.Group):
    """Import a command group only when it is used, so ``--help`` stays fast."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name, mod in _GROUPS.items() if importlib.util.find_spec(mod))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = _GROUPS.get(cmd_name)
        if module_name is None or importlib.util.find_spec(module_name) is None:
            return None
        command: click.Command = importlib.import_module(module_name).group
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(package_name="tributary-analysis")
def cli(verbose: int) -> None:
    """Tributary Analysis: Prometheus and logs of the Tributary AI Service, in pandas.

    Start with `tributary demo up` for a local stack with simulated telemetry, then
    `tributary report run` to render the HTML reports.
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _ScrubLog) for f in handler.filters):
            handler.addFilter(_ScrubLog())


class _ScrubLog(logging.Filter):
    """Every log line the CLI prints is scrubbed of the secrets in effect (a library's debug
    line may carry a URL, a header or a traceback with a credential in it)."""

    def __init__(self) -> None:
        super().__init__()
        self._scrub: Callable[[str], str] | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if self._scrub is None:
            self._scrub = _scrubber()
        message = record.getMessage()
        clean = self._scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._scrub(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = self._scrub(record.exc_text)
        return True


def _scrubber() -> Callable[[str], str]:
    """A function removing every secret the settings or the environment hold."""
    from tributary_analysis.reports.scrub import Scrubber

    try:
        from tributary_analysis.config import load_settings

        scrubber = Scrubber.from_environment(load_settings())
    except Exception:  # the settings themselves may be what is broken
        scrubber = Scrubber.from_environment(None)
    return scrubber.text


def _scrubbed(text: str) -> str:
    """``text`` without any secret the settings or the environment hold."""
    return _scrubber()(text)


def _os_error_line(exc: OSError) -> str:
    where = f" {exc.filename}" if exc.filename else ""
    return (f"error: cannot use{where}: {exc.strerror or exc}; check the path, its "
            "permissions and free space")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and turn library errors into one line and exit code 2."""
    try:
        cli.main(args=argv, prog_name="tributary", standalone_mode=False)
    except TributaryError as exc:
        click.echo(_scrubbed(f"error: {exc}"), err=True)
        return 2
    except OSError as exc:
        logging.getLogger(__name__).debug("traceback", exc_info=True)
        click.echo(_scrubbed(_os_error_line(exc)), err=True)
        return 2
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except Exception as exc:
        logging.getLogger(__name__).debug("traceback", exc_info=True)
        click.echo(_scrubbed(f"error: unexpected {type(exc).__name__}: {exc} (a bug: please "
                             "report it; -vv shows the traceback)"), err=True)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
