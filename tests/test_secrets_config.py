"""Secrets in settings: URL userinfo, credential headers, webhook and mail credentials never
print (``tributary config show``, ``repr``, ``describe``), and the scrubber knows each of them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tributary_analysis.config import (
    Secret,
    is_credential_header,
    load_settings,
    redact_headers,
    redact_url,
)
from tributary_analysis.errors import ConfigError
from tributary_analysis.reports.scrub import Scrubber

PROM_PW = "canary-prom-userinfo-PW9x"
ES_PW = "canary-es-userinfo-PW7y"
BEARER = "canary-bearer-tok-3c5d7e"
API_KEY = "canary-x-api-key-11aa22"
ORG_KEY = "canary-org-key-66ff77"
HOOK_TOKEN = "canaryWebhookTokenZZ0099"
MAIL_PW = "canary-smtp-pass-4e4e4e"
FILE_TOKEN = "canary-file-token-8b8b8b"
CANARIES = (PROM_PW, ES_PW, BEARER, API_KEY, ORG_KEY, HOOK_TOKEN, MAIL_PW, FILE_TOKEN)


def _env(tmp_path: Path) -> dict[str, str]:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        '[prometheus]\ntoken = "' + FILE_TOKEN + '"\n'
        '[secrets]\nheaders = ["X-Org-Key"]\n'
        '[smtp]\nhost = "127.0.0.1"\nport = 2525\nusername = "mailer"\n'
        f'password = "{MAIL_PW}"\nfrom = "reports@example.org"\n'
        'to = ["sre@example.org", "am@example.org"]\nstarttls = false\n')
    return {
        "TRIBUTARY_HOME": str(tmp_path),
        "TRIBUTARY_CONFIG": str(cfg),
        "TRIBUTARY_PROMETHEUS_URL": f"http://prom-user:{PROM_PW}@127.0.0.1:9090/prefix",
        "TRIBUTARY_ES_URL": f"https://es-user:{ES_PW}@[::1]:9200",
        "TRIBUTARY_PROMETHEUS_HEADERS": json.dumps({
            "Authorization": f"Bearer {BEARER}", "X-Api-Key": API_KEY,
            "X-Org-Key": ORG_KEY, "X-Scope-OrgID": "tenant-a"}),
        "TRIBUTARY_REPORT_WEBHOOK_URL":
            f"https://hooks.example.org/services/T000/B000/{HOOK_TOKEN}",
    }


def test_userinfo_moves_out_of_the_urls(tmp_path: Path) -> None:
    s = load_settings(env=_env(tmp_path))
    assert s.prometheus_url == "http://127.0.0.1:9090/prefix"
    assert s.prometheus_username == "prom-user"
    assert s.prometheus_password is not None and s.prometheus_password.get() == PROM_PW
    assert s.es_url == "https://[::1]:9200"
    assert (s.es_username, s.es_password) == ("es-user", Secret(ES_PW))
    # percent-encoded userinfo is decoded; replace() (cli --url) goes through the same split
    s2 = replace(s, prometheus_url="http://prom-user:p%40ss%3Aw0rd@h:1",
                 prometheus_password=None)
    assert s2.prometheus_url == "http://h:1"
    assert s2.prometheus_password == Secret("p@ss:w0rd")


def test_userinfo_conflicting_with_a_password_setting_is_refused(tmp_path: Path) -> None:
    env = _env(tmp_path) | {"TRIBUTARY_PROMETHEUS_PASSWORD": "another-password"}
    with pytest.raises(ConfigError, match=r"prometheus_url carries a password in its "
                       r"userinfo \(http://127.0.0.1:9090/prefix\) and prometheus_password "
                       r"is also set") as err:
        load_settings(env=env)
    assert PROM_PW not in str(err.value) and "another-password" not in str(err.value)


def test_settings_never_print_a_secret(tmp_path: Path) -> None:
    s = load_settings(env=_env(tmp_path))
    text = repr(s) + str(s) + json.dumps(s.describe()) + repr(s.prometheus_headers)
    for canary in CANARIES:
        assert canary not in text
    d = s.describe()
    assert d["prometheus_url"] == "http://127.0.0.1:9090/prefix"
    assert json.loads(d["prometheus_headers"]) == {
        "Authorization": "(set)", "X-Api-Key": "(set)", "X-Org-Key": "(set)",
        "X-Scope-OrgID": "tenant-a"}
    assert d["webhook_url"] == d["smtp_password"] == d["prometheus_token"] == "(set)"
    assert (d["smtp_host"], d["smtp_port"], d["smtp_to"], d["smtp_starttls"]) == (
        "127.0.0.1", "2525", "sre@example.org, am@example.org", "False")
    # the clients still get the real values
    assert s.prometheus_headers["Authorization"] == f"Bearer {BEARER}"
    assert s.smtp_password == Secret(MAIL_PW) and s.smtp_to == ("sre@example.org",
                                                                 "am@example.org")


def test_config_show_through_the_cli(tmp_path: Path) -> None:
    env = _env(tmp_path) | {"PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "tributary_analysis.cli", "config", "show"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for canary in CANARIES:
        assert canary not in proc.stdout + proc.stderr
    lines = dict(line.split(None, 1) for line in proc.stdout.splitlines())
    assert lines["prometheus_url"] == "http://127.0.0.1:9090/prefix"
    assert lines["prometheus_password"] == "(set)" and lines["es_password"] == "(set)"
    assert '"Authorization": "(set)"' in lines["prometheus_headers"]
    assert lines["webhook_url"] == "(set)" and lines["smtp_password"] == "(set)"


def test_bad_secret_values_name_the_input_not_the_value(tmp_path: Path) -> None:
    env = {"TRIBUTARY_HOME": str(tmp_path),
           "TRIBUTARY_PROMETHEUS_HEADERS": '{"Authorization": "Bearer ' + BEARER}
    with pytest.raises(ConfigError, match="prometheus_headers from environment variable "
                                          "TRIBUTARY_PROMETHEUS_HEADERS") as err:
        load_settings(env=env)
    assert BEARER not in str(err.value)
    with pytest.raises(ConfigError, match="smtp_port from environment variable "
                                          "TRIBUTARY_SMTP_PORT: must be a TCP port"):
        load_settings(env={"TRIBUTARY_HOME": str(tmp_path), "TRIBUTARY_SMTP_PORT": "0"})


def test_redact_url_and_headers() -> None:
    assert redact_url("http://u:pw@h:9/p?q=1") == "http://h:9/p?q=1"
    assert redact_url("http://u@h/") == "http://h/"
    assert redact_url("https://h/api?access_token=abc&step=60") == \
        "https://h/api?access_token=%5Bredacted%5D&step=60"
    assert redact_url("https://s3/obj?X-Amz-Signature=abc&X-Amz-Credential=k") == \
        "https://s3/obj?X-Amz-Signature=%5Bredacted%5D&X-Amz-Credential=%5Bredacted%5D"
    assert redact_url("https://hooks.example/services/T/B/XYZ", path=False) == \
        "https://hooks.example/…"
    assert redact_url("/var/log/*.jsonl") == "/var/log/*.jsonl"
    for name in ("Authorization", "proxy-authorization", "X-API-KEY", "Cookie", "Set-Cookie",
                 "X-Auth-Token", "Private-Token", "X-Vault-Token"):
        assert is_credential_header(name), name
    for name in ("X-Scope-OrgID", "Accept", "User-Agent", "Content-Type"):
        assert not is_credential_header(name), name
    assert redact_headers({"X-Tenant": "a", "X-Custom": "s"}, ["x-custom"]) == {
        "X-Tenant": "a", "X-Custom": "(set)"}


def test_scrubber_knows_every_secret_the_settings_hold(tmp_path: Path) -> None:
    s = load_settings(env=_env(tmp_path))
    scrub = Scrubber.from_environment(s, env={})
    import base64
    import html
    from urllib.parse import quote

    basic = base64.b64encode(f"prom-user:{PROM_PW}".encode()).decode()
    texts = [*CANARIES, f"Bearer {BEARER}", basic, quote(PROM_PW),
             "/services/T000/B000/" + HOOK_TOKEN]
    for t in texts:
        assert scrub.text(f"<{t}>") != f"<{t}>", t
    out = scrub.text(" ".join(texts))
    assert not any(c in out for c in CANARIES)
    # a secret with characters that pages and URLs escape is found in its escaped forms
    odd = "amp&ersand<pw>/x"
    s3 = replace(s, es_password=Secret(odd), es_url="http://h:9200")
    odd_scrub = Scrubber.from_environment(s3, env={})
    for form in (odd, html.escape(odd), quote(odd, safe=""), json.dumps(odd)[1:-1]):
        assert odd_scrub.text(form) == "[redacted]", form
    # URL passwords in any environment variable, even without settings
    env_only = Scrubber.from_environment(None, {"DATABASE_URL": "postgres://u:dbpass123@h/x"})
    assert env_only.text("dbpass123") == "[redacted]"


def test_url_userinfo_takes_the_precedence_of_its_source(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[elasticsearch]\nusername = "reader"\npassword = "file-password"\n')
    env = {"TRIBUTARY_HOME": str(tmp_path), "TRIBUTARY_CONFIG": str(cfg),
           "TRIBUTARY_ES_URL": f"http://admin:{ES_PW}@127.0.0.1:9200"}
    s = load_settings(env=env)
    assert (s.es_url, s.es_username, s.es_password) == (
        "http://127.0.0.1:9200", "admin", Secret(ES_PW))
    # the file's URL with userinfo loses to the environment's username
    cfg.write_text(f'[elasticsearch]\nurl = "http://fileuser:{ES_PW}@h:9200"\n')
    s = load_settings(env={"TRIBUTARY_HOME": str(tmp_path), "TRIBUTARY_CONFIG": str(cfg),
                           "TRIBUTARY_ES_USERNAME": "envuser"})
    assert (s.es_url, s.es_username, s.es_password) == ("http://h:9200", "envuser",
                                                        Secret(ES_PW))
