"""Options every command group shares, so a window is named and read the same way everywhere.

``@window_options()`` adds ``--since``, ``--start``, ``--end`` (and ``--step`` with
``step=True``) and hands the command one resolved :class:`~tributary_analysis.ground.time.Window`
as ``window`` (and a ``Timedelta`` as ``step``), parsed by
:func:`~tributary_analysis.ground.time.parse_window` — the same function notebooks and
schedules use. Errors name the option (``--since='1x' is not a duration …``).

Examples
--------
>>> import click
>>> @click.command()
... @window_options(default_since="24h", step=True)
... def show(window, step):
...     click.echo(f"{window.describe()} every {step}")
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from tributary_analysis.ground.time import parse_step, parse_window

F = TypeVar("F", bound=Callable[..., Any])

_NAMES = ("--since", "--start", "--end")


def window_options(*, default_since: str | None = "24h", step: bool = False,
                   default_step: str | None = None, tell_given: bool = False
                   ) -> Callable[[F], F]:
    """Add the shared window options and pass ``window`` (and ``step``) to the command.

    Parameters
    ----------
    default_since : str or None
        The window when neither ``--since`` nor ``--start`` is given; ``None`` makes one of
        them required.
    step : bool
        Also add ``--step`` (a duration such as ``60s``, ``5m``, ``1h30m``).
    default_step : str, optional
        The step when ``--step`` is not given (``None``: the command decides, it receives
        ``step=None``).
    tell_given : bool
        Also pass ``window_given``: whether ``--since`` or ``--start`` was given (a command
        whose parts have their own default windows uses them only when it was not).
    """

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, since: str | None, start: str | None, end: str | None,
                    **kwargs: Any) -> Any:
            kwargs["window"] = parse_window(since, start, end, default_since=default_since,
                                            names=_NAMES)
            if tell_given:
                kwargs["window_given"] = since is not None or start is not None
            if step:
                raw = kwargs.pop("step_text", None) or default_step
                kwargs["step"] = parse_step(raw, name="--step") if raw else None
            return func(*args, **kwargs)

        since_help = "Window length back from --end: 30m, 24h, 1h30m, 7d" + (
            f" [default: {default_since}]." if default_since else ".")
        opts = [
            click.option("--since", default=None, help=since_help),
            click.option("--start", default=None,
                         help="Window start: ISO 8601 (naive = UTC), 'now-2h' or UNIX seconds."),
            click.option("--end", default=None,
                         help="Window end (exclusive), same forms [default: now]."),
        ]
        if step:
            opts.append(click.option(
                "--step", "step_text", default=None,
                help="Resolution: 15s, 1m, 5m, 1h" + (f" [default: {default_step}]."
                                                    if default_step else ".")))
        out: Any = wrapper
        for opt in reversed(opts):
            out = opt(out)
        return out

    return decorate
