"""Session fixtures: Prometheus 3 server fixtures (owned by the stack area).

Star-imported by ``conftest.py`` so every test module shares them.
"""

from __future__ import annotations

__all__: list[str] = []
