"""The secrets canary tests (``test_secrets_canary``) again with ``--executor pool``: no
canary in any output file or stream, a private and empty work area, and after ``kill -9``
of ``tributary report run`` no worker or kernel left and nothing unscrubbed under ``--out``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import test_secrets_canary
from test_secrets_canary import *  # noqa: F403 - the same tests, against the pool
from test_secrets_canary import batch  # noqa: F401 - the module's fixture

from tributary_analysis.reports.execute import EXECUTOR_ENV


@pytest.fixture(scope="module", autouse=True)
def _pool_executor() -> Iterator[None]:
    """The CLI runs of ``test_secrets_canary`` take their environment from ``_env``: the
    pool is named there."""
    mp = pytest.MonkeyPatch()
    env_of = test_secrets_canary._env

    def pool_env(home: Path) -> dict[str, str]:
        return {**env_of(home), EXECUTOR_ENV: "pool"}

    mp.setattr(test_secrets_canary, "_env", pool_env)
    yield
    mp.undo()
