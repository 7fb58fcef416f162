"""The Go builds of Prometheus 3 and Jaeger v2: stamped, cached outside the clone, atomic.

The real builds are made once per machine (``make test`` starts them in the background); these
tests use them, and check the cache's rules on a throwaway cache root.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tributary_analysis.errors import StackError
from tributary_analysis.stack import gobuild

ROOT = Path(__file__).resolve().parents[1]


def test_cache_lives_outside_the_clone_and_is_keyed_by_version(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.delenv("TRIBUTARY_CACHE", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert gobuild.cache_root() == Path.home() / ".cache" / "tributary"
    assert ROOT not in gobuild.cache_root().parents
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert gobuild.cache_root() == tmp_path / "xdg" / "tributary"
    monkeypatch.setenv("TRIBUTARY_CACHE", str(tmp_path / "c"))
    assert gobuild.bin_dir(gobuild.PROMETHEUS) == tmp_path / "c" / "bin" / "prometheus-3.16.0"
    assert gobuild.bin_dir(gobuild.JAEGER) == tmp_path / "c" / "bin" / "jaeger-2.13.0"


def test_prometheus3_binaries_report_3_16(prometheus3_stack: Any) -> None:
    target = gobuild.ensure(gobuild.PROMETHEUS)
    for name in ("prometheus", "promtool"):
        out = subprocess.run([str(target / name), "--version"], capture_output=True,
                             text=True, check=True)
        text = out.stdout + out.stderr
        assert f"{name}, version 3.16.0" in text, text
        assert "remove_all_sd" in text and "tributary" in text, text
    stamp = json.loads((target / "build.json").read_text())
    assert stamp["module"] == "github.com/prometheus/prometheus"
    assert stamp["version"] == "v0.316.0" and stamp["tags"] == ["remove_all_sd"]
    info = requests.get(f"{prometheus3_stack.url}/api/v1/status/buildinfo", timeout=10).json()
    assert info["data"]["version"] == "3.16.0"
    assert info["data"]["branch"] == "HEAD"
    assert info["data"]["goVersion"] == stamp["go"]


def test_jaeger_binary_reports_v2_13() -> None:
    target = gobuild.ensure(gobuild.JAEGER)
    out = subprocess.run([str(target / "jaeger"), "version"], capture_output=True, text=True,
                         check=True, timeout=60)
    text = out.stdout + out.stderr
    assert "v2.13.0" in text, text
    origin = gobuild.module_info(gobuild.JAEGER)["origin"]
    commit = (origin.get("Origin") or {}).get("Hash")
    if commit:
        assert commit in text


def test_a_cached_build_is_reused_without_calling_go(monkeypatch: pytest.MonkeyPatch) -> None:
    target = gobuild.ensure(gobuild.PROMETHEUS)
    monkeypatch.setenv("TRIBUTARY_GO", "/nonexistent/go")
    monkeypatch.setenv("PATH", "/nonexistent")
    lines: list[str] = []
    assert gobuild.ensure(gobuild.PROMETHEUS, echo=lines.append) == target
    assert lines == []


def test_replace_directives_are_carried_into_the_wrapper_module() -> None:
    jaeger = Path(gobuild.module_info(gobuild.JAEGER)["GoMod"]).read_text()
    prom = Path(gobuild.module_info(gobuild.PROMETHEUS)["GoMod"]).read_text()
    assert gobuild._replace_directives(jaeger) == [
        "github.com/Shopify/sarama => github.com/Shopify/sarama v1.33.0"]
    assert gobuild._replace_directives(prom) == []
    assert gobuild._replace_directives(
        "module x\nreplace (\n  a => b v1\n  // c => d v2\n  e v1 => ../e\n)\n") == [
        "a => b v1", "e v1 => ../e"]


def test_an_incomplete_build_is_never_used_and_is_cleared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No ``build.json`` means not built; a failed build leaves neither target nor temp dir."""
    root = tmp_path / "cache"
    half = gobuild.bin_dir(gobuild.PROMETHEUS, root)
    half.mkdir(parents=True)
    for name in ("prometheus", "promtool"):
        (half / name).write_text("#!/bin/sh\n")
        (half / name).chmod(0o755)
    stale = half.parent / ".prometheus-3.16.0.tmp-killed"
    stale.mkdir()
    assert gobuild.cached(gobuild.PROMETHEUS, root) is None
    assert gobuild.binary(gobuild.PROMETHEUS, root=root) is None
    fake_go = tmp_path / "go"
    fake_go.write_text("#!/bin/sh\necho 'proxy says no' >&2\nexit 1\n")
    fake_go.chmod(0o755)
    monkeypatch.setenv("TRIBUTARY_GO", str(fake_go))
    with pytest.raises(StackError, match=r"(?s)downloading github.com/prometheus/prometheus@v0\."
                                         r"316.0 failed.*proxy says no"):
        gobuild.ensure(gobuild.PROMETHEUS, root=root, echo=lambda _m: None)
    assert not stale.exists()
    assert not list(half.parent.glob(".prometheus-3.16.0.tmp-*"))
    assert gobuild.cached(gobuild.PROMETHEUS, root) is None


def test_a_killed_build_leaves_no_binary(tmp_path: Path) -> None:
    """Kill the real build mid-compile: the cache holds no target, only a temp dir."""
    gobuild.ensure(gobuild.PROMETHEUS)  # modules downloaded, so the child compiles at once
    root = tmp_path / "cache"
    env = {**os.environ, "TRIBUTARY_CACHE": str(root),
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "tributary_analysis.stack.gobuild",
                             "prometheus"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            tmps = list((root / "bin").glob(".prometheus-3.16.0.tmp-*"))
            if tmps and _has_go_child(proc.pid):
                break
            time.sleep(0.2)
        else:
            pytest.fail("the build never started compiling")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
    assert "building prometheus 3.16.0 from github.com/prometheus/prometheus@v0.316.0" in out
    assert not gobuild.bin_dir(gobuild.PROMETHEUS, root).exists()
    assert gobuild.cached(gobuild.PROMETHEUS, root) is None


def _has_go_child(pid: int) -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            return True
    return False
