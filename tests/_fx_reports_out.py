"""Session fixtures for PDF, mail and dashboard reports: a local SMTP server (reports-output area).

Star-imported by ``conftest.py`` so every test module shares them.
"""

from __future__ import annotations

__all__: list[str] = []
