"""Session fixtures: fixtures for scale-out: a local Dask cluster (owned by the scale area).

Star-imported by ``conftest.py`` so every test module shares them.
"""

from __future__ import annotations

__all__: list[str] = []
