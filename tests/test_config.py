"""Settings precedence, validation messages and secret masking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tributary_analysis.config import Secret, load_settings
from tributary_analysis.errors import ConfigError


def test_env_overrides_file_and_state(tmp_path: Path) -> None:
    (tmp_path / "stack.json").write_text(json.dumps({"prometheus": {"url": "http://127.0.0.1:1"}}))
    (tmp_path / "config.toml").write_text('[prometheus]\nurl = "http://127.0.0.1:2"\n')
    env = {"TRIBUTARY_HOME": str(tmp_path)}
    assert load_settings(env=env).prometheus_url == "http://127.0.0.1:2"
    env["TRIBUTARY_PROMETHEUS_URL"] = "http://127.0.0.1:3"
    assert load_settings(env=env).prometheus_url == "http://127.0.0.1:3"


def test_stack_state_is_the_default(tmp_path: Path) -> None:
    (tmp_path / "stack.json").write_text(
        json.dumps({"prometheus": {"url": "http://127.0.0.1:4"},
                    "elasticsearch": {"url": "http://127.0.0.1:5"}})
    )
    s = load_settings(env={"TRIBUTARY_HOME": str(tmp_path)})
    assert (s.prometheus_url, s.es_url) == ("http://127.0.0.1:4", "http://127.0.0.1:5")


def test_secrets_never_print(tmp_path: Path) -> None:
    s = load_settings(env={"TRIBUTARY_HOME": str(tmp_path),
                           "TRIBUTARY_ES_PASSWORD": "canary-123"})
    assert isinstance(s.es_password, Secret)
    assert s.es_password.get() == "canary-123"
    assert "canary-123" not in repr(s)
    assert "canary-123" not in str(s.describe())


def test_secret_from_config_file(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[elasticsearch]\nusername = "reader"\npassword = "pw-1"\n'
    )
    s = load_settings(env={"TRIBUTARY_HOME": str(tmp_path)})
    assert s.es_username == "reader"
    assert s.es_password is not None and s.es_password.get() == "pw-1"


def test_bad_values_name_the_input(tmp_path: Path) -> None:
    env = {"TRIBUTARY_HOME": str(tmp_path), "TRIBUTARY_PROMETHEUS_TIMEOUT": "soon"}
    with pytest.raises(ConfigError, match="prometheus_timeout from environment variable "
                                          "TRIBUTARY_PROMETHEUS_TIMEOUT"):
        load_settings(env=env)
    env = {"TRIBUTARY_HOME": str(tmp_path), "TRIBUTARY_PROMETHEUS_HEADERS": "[1]"}
    with pytest.raises(ConfigError, match="expected a JSON object"):
        load_settings(env=env)


def test_unknown_config_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text('[prometheus]\nulr = "x"\n')
    with pytest.raises(ConfigError, match=r"unknown setting prometheus.ulr"):
        load_settings(env={"TRIBUTARY_HOME": str(tmp_path)})


def test_missing_explicit_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(env={"TRIBUTARY_HOME": str(tmp_path),
                           "TRIBUTARY_CONFIG": str(tmp_path / "nope.toml")})


# ---------------------------------------------------------------- trace settings

def test_trace_settings_from_env_file_and_stack_state(tmp_path: Path) -> None:
    env = {"TRIBUTARY_HOME": str(tmp_path)}
    s = load_settings(env=env)
    assert (s.jaeger_url, s.trace_files) == (None, None)
    (tmp_path / "stack.json").write_text(json.dumps({
        "jaeger": {"url": "http://127.0.0.1:16001"},
        "traces": {"files": "/data/sim/traces/*.jsonl"}}))
    s = load_settings(env=env)
    assert (s.jaeger_url, s.trace_files) == ("http://127.0.0.1:16001", "/data/sim/traces/*.jsonl")
    (tmp_path / "config.toml").write_text(
        '[traces]\njaeger_url = "http://127.0.0.1:16002"\nfiles = "/t/*.jsonl"\n')
    s = load_settings(env=env)
    assert (s.jaeger_url, s.trace_files) == ("http://127.0.0.1:16002", "/t/*.jsonl")
    env.update(TRIBUTARY_JAEGER_URL="http://127.0.0.1:16003", TRIBUTARY_TRACE_FILES="/e/*.json")
    s = load_settings(env=env)
    assert (s.jaeger_url, s.trace_files) == ("http://127.0.0.1:16003", "/e/*.json")
    assert s.describe()["jaeger_url"] == "http://127.0.0.1:16003"
    assert s.describe()["trace_files"] == "/e/*.json"


def test_an_older_stack_state_gives_the_simulations_trace_files(tmp_path: Path) -> None:
    (tmp_path / "stack.json").write_text(json.dumps({"sim_dir": "/d/sim"}))
    s = load_settings(env={"TRIBUTARY_HOME": str(tmp_path)})
    assert s.trace_files == "/d/sim/traces/*.jsonl"


def test_jaeger_url_with_credentials_is_refused_without_showing_them(tmp_path: Path) -> None:
    env = {"TRIBUTARY_HOME": str(tmp_path),
           "TRIBUTARY_JAEGER_URL": "http://admin:canary-77@127.0.0.1:16686"}
    with pytest.raises(ConfigError, match=r"jaeger_url from environment variable "
                                          r"TRIBUTARY_JAEGER_URL.*user:password") as err:
        load_settings(env=env)
    assert "canary-77" not in str(err.value)
    (tmp_path / "config.toml").write_text('[traces]\nurl = "http://127.0.0.1:1"\n')
    with pytest.raises(ConfigError, match=r"unknown setting traces.url"):
        load_settings(env={"TRIBUTARY_HOME": str(tmp_path)})


def test_config_show_prints_the_trace_settings(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from tributary_analysis.cli import cli

    monkeypatch.setenv("TRIBUTARY_HOME", str(tmp_path))
    monkeypatch.setenv("TRIBUTARY_JAEGER_URL", "http://127.0.0.1:16686")
    monkeypatch.setenv("TRIBUTARY_TRACE_FILES", "/sim/traces/*.jsonl")
    result = CliRunner().invoke(cli, ["config", "show"])
    assert result.exit_code == 0, result.output
    lines = dict(line.split(None, 1) for line in result.output.splitlines() if line.strip())
    assert lines["jaeger_url"] == "http://127.0.0.1:16686"
    assert lines["trace_files"] == "/sim/traces/*.jsonl"


def test_prometheus_compression_setting_reaches_the_request(tmp_path: Path,
                                                             prometheus_stack: object) -> None:
    """auto asks a loopback server for identity; the config file can force gzip (and the
    server answers gzipped); a typo names the setting and the values."""
    from tributary_analysis.frames.meta import meta_of
    from tributary_analysis.sources.prometheus import PrometheusSource

    url = prometheus_stack.url  # type: ignore[attr-defined]
    env = {"TRIBUTARY_HOME": str(tmp_path), "TRIBUTARY_PROMETHEUS_URL": url}
    with PrometheusSource.from_settings(load_settings(env=env)) as auto:
        df = auto.query_range("vector(1)", "2026-01-01T00:00Z", "2026-01-01T00:10Z", "1m")
        assert meta_of(df).details["encoding"] == "identity"
    (tmp_path / "config.toml").write_text('[prometheus]\ncompression = "gzip"\n')
    settings = load_settings(env=env)
    assert settings.prometheus_compression == "gzip"
    with PrometheusSource.from_settings(settings) as gz:
        df = gz.query_range("vector(1)", "2026-01-01T00:00Z", "2026-01-01T00:10Z", "1m")
        assert meta_of(df).details["encoding"] == "gzip" and len(df) == 11
    env["TRIBUTARY_PROMETHEUS_COMPRESSION"] = "zstd"
    with pytest.raises(ConfigError, match=r"prometheus_compression from environment variable "
                                          r"TRIBUTARY_PROMETHEUS_COMPRESSION.*auto, identity or "
                                          r"gzip"):
        load_settings(env=env)
