"""environment.yml (conda-forge) and pyproject.toml declare the same dependencies."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
#: PyPI name → conda-forge name, where they differ
CONDA_NAMES = {"duckdb": "python-duckdb"}
_REQ = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(\[[^\]]*\])?\s*(.*?)\s*(;.*)?$")


def _split(req: str) -> tuple[str, str]:
    match = _REQ.match(req)
    assert match, f"cannot parse requirement {req!r}"
    name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
    spec = ",".join(sorted(s.replace(" ", "") for s in match.group(3).split(",") if s.strip()))
    return name, spec


def _pyproject() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    out = {}
    for req in data["project"]["dependencies"]:
        name, spec = _split(req)
        out[CONDA_NAMES.get(name, name)] = spec
    return out


def _environment() -> tuple[dict[str, str], list[str]]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out, channels = {}, env["channels"]
    for dep in env["dependencies"]:
        if isinstance(dep, dict):  # the pip section installs the package itself
            assert dep.get("pip") == ["-e ."], f"unexpected pip section {dep}"
            continue
        name, spec = _split(dep)
        if name not in {"python", "pip"}:
            out[name] = spec
    return out, channels


def test_environment_yml_matches_pyproject_dependencies() -> None:
    conda, channels = _environment()
    pypi = _pyproject()
    assert channels == ["conda-forge", "nodefaults"]
    assert set(conda) == set(pypi), (
        f"only in environment.yml: {sorted(set(conda) - set(pypi))}; "
        f"only in pyproject.toml: {sorted(set(pypi) - set(conda))}")
    mismatched = {n: (pypi[n], conda[n]) for n in pypi if pypi[n] != conda[n]}
    assert not mismatched, f"version specifiers differ (pyproject, environment.yml): {mismatched}"


def test_python_floor_agrees() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    floor = data["project"]["requires-python"]
    assert f"python{floor}" in env["dependencies"]


def test_requirement_parser_catches_differences() -> None:
    assert _split("elasticsearch>=9,<10") == ("elasticsearch", "<10,>=9")
    assert _split("Foo_Bar >= 1.0") == ("foo-bar", ">=1.0")
    assert _split("elasticsearch>=9") != _split("elasticsearch>=9,<10")
