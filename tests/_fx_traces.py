"""Session fixtures: trace fixtures: simulated spans, a loaded Jaeger (owned by the traces area).

Star-imported by ``conftest.py`` so every test module shares them.
"""

from __future__ import annotations

__all__: list[str] = []
