"""``tributary report k8s``: a CronJob around an Indexed Job, checked against the Kubernetes
JSON schemas offline (the strict schemas the ``kubernetes-validate`` package ships, which
refuse unknown fields), and the same ``report run --shards N`` command each pod runs,
picking its tenants from ``JOB_COMPLETION_INDEX``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner

from tributary_analysis.cli.report import group
from tributary_analysis.errors import ConfigError
from tributary_analysis.ground.time import parse_window
from tributary_analysis.reports import k8s, ledger
from tributary_analysis.reports.registry import ReportSpec
from tributary_analysis.reports.runner import RunRequest

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"
RUNNER = Path(__file__).parent / "cli_fixture_runner.py"
#: the oldest release with backoffLimitPerIndex on by default, and the newest shipped
VERSIONS = ("1.29", kubernetes_validate.utils.latest_version())


def _manifest(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(group, ["k8s", "--image", "registry.local/tributary:1.0",
                                        *args])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("# Tributary report batch")
    data: dict[str, Any] = yaml.safe_load(result.output)
    return data


def _job(cron: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "probe"},
            "spec": cron["spec"]["jobTemplate"]["spec"]}


@pytest.mark.parametrize("version", VERSIONS)
def test_manifest_is_a_valid_cronjob_and_job(version: str) -> None:
    cron = _manifest("tenants", "--shards", "5", "--parallelism", "2", "--namespace", "obs",
                     "--env", "TRIBUTARY_PROMETHEUS_URL=http://prometheus:9090",
                     "--deadline", "2h", "--top-tenants", "100")
    kubernetes_validate.validate(cron, version, strict=True)
    kubernetes_validate.validate(_job(cron), version, strict=True)
    spec = cron["spec"]
    assert cron["kind"] == "CronJob" and cron["metadata"]["namespace"] == "obs"
    assert spec["concurrencyPolicy"] == "Forbid"
    job = spec["jobTemplate"]["spec"]
    assert job["completionMode"] == "Indexed" and job["completions"] == 5
    assert job["parallelism"] == 2 and job["activeDeadlineSeconds"] == 7200
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    [container] = pod["containers"]
    assert container["command"] == ["tributary"]
    args = container["args"]
    assert args[:3] == ["report", "run", "tenants"]
    assert args[args.index("--shards") + 1] == "5" and "--shard-index" not in args
    assert args[args.index("--tenant") + 1] == "all"
    assert args[args.index("--top-tenants") + 1] == "100"
    assert container["envFrom"] == [{"secretRef": {"name": "tributary-credentials"}}]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["TRIBUTARY_PROMETHEUS_URL"] == "http://prometheus:9090"
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["reports"] == args[args.index("--out") + 1] == "/reports"
    assert {v["name"] for v in pod["volumes"]} == {"reports", "home"}


def test_the_schema_check_can_fail() -> None:
    """The strict schema refuses a wrong type and an unknown field: the check is real."""
    cron = _manifest()
    broken = json.loads(json.dumps(cron))
    broken["spec"]["jobTemplate"]["spec"]["completions"] = "five"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)
    unknown = json.loads(json.dumps(cron))
    unknown["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["tenants"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(unknown, VERSIONS[-1], strict=True)


@pytest.mark.parametrize(("args", "message"), [
    (["--env", "TRIBUTARY_PROMETHEUS_TOKEN=abc"], "a credential does not belong in the "
                                                  "manifest; put it in the Secret"),
    (["--env", "TRIBUTARY_ES_URL=http://u:pw@es:9200"], "the URL carries a password"),
    (["--env", "NOEQUALS"], "use KEY=VALUE"),
    (["--name", "Tributary_Reports"], "is not a CronJob name"),
    (["--schedule", "every day"], "is not a cron expression"),
    (["--executor", "dask://127.0.0.1:8786"], "inside a pod is local or pool"),
    (["--shards", "0"], "--shards must be at least 1"),
    (["nosuchreport"], "nosuchreport"),
])
def test_bad_options_are_one_error_line(args: list[str], message: str) -> None:
    from tributary_analysis.cli import main

    result = CliRunner().invoke(group, ["k8s", "--image", "x:1", *args],
                                standalone_mode=False, catch_exceptions=True)
    assert isinstance(result.exception, ConfigError), result.output
    assert message in str(result.exception)
    assert main(["report", "k8s", "--image", "x:1", *args]) == 2


def test_shards_partition_the_tenants_stably() -> None:
    window = parse_window("1h", end="2025-01-31T00:00:00Z")
    spec = ReportSpec("tenant", FIXTURES / "tenant.ipynb", per_tenant=True)
    tenants = [f"tenant-{i:04d}" for i in range(1000)] + ["<b>'x'</b>", "ünï", ""]
    requests = [RunRequest(spec, window, tenant=t) for t in tenants]
    requests.append(RunRequest(ReportSpec("daily", FIXTURES / "figures.ipynb"), window))
    shards = [k8s.select_shard(requests, 8, i) for i in range(8)]
    assert sum(len(s) for s in shards) == len(requests)
    ids = [id(r) for s in shards for r in s]
    assert len(set(ids)) == len(ids)  # disjoint
    assert requests[-1] in shards[0]  # a report without a tenant runs in shard 0
    sizes = [len(s) for s in shards]
    assert max(sizes) - min(sizes) < 60  # 1,003 runs over 8 pods: ~125 each
    # stable: a pod that sees fewer tenants puts each in the same shard
    fewer = k8s.select_shard(requests[::7], 8, 3)
    assert {r.tenant for r in fewer} <= {r.tenant for r in shards[3]}


def test_shard_index_comes_from_the_indexed_job() -> None:
    assert k8s.shard_index(4, env={"JOB_COMPLETION_INDEX": "3"}) == 3
    assert k8s.shard_index(4, 1, env={}) == 1
    with pytest.raises(ConfigError, match=r"--shards 4 needs --shard-index or "
                                          r"\$JOB_COMPLETION_INDEX"):
        k8s.shard_index(4, env={})
    with pytest.raises(ConfigError, match=r"shard index 4 is outside 0..3"):
        k8s.shard_index(4, env={"JOB_COMPLETION_INDEX": "4"})
    with pytest.raises(ConfigError, match=r"'x' is not a shard number"):
        k8s.shard_index(4, env={"JOB_COMPLETION_INDEX": "x"})


@pytest.mark.slow
def test_each_pod_runs_its_shard_with_the_same_command(tmp_path: Path) -> None:
    """The container's command, run twice as two pods would (JOB_COMPLETION_INDEX 0 and
    1) into one reports directory: every tenant rendered once, in the shard it belongs to."""
    tenants = ["acme", "globex", "initech", "umbrella"]
    specs = json.dumps([["tenant", str(FIXTURES / "tenant.ipynb"), {}]])
    out = tmp_path / "reports"
    for index, executor in ((0, "local"), (1, "pool")):
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRIBUTARY_")}
        env.update({"TRIBUTARY_HOME": str(tmp_path / f"home{index}"),
                    "JOB_COMPLETION_INDEX": str(index)})
        args = ["report", "run", "tenant", "--since", "1h", "--timeout", "5m",
                "--executor", executor, "--shards", "2", "--out", str(out)]
        for t in tenants:
            args += ["--tenant", t]
        proc = subprocess.run([sys.executable, str(RUNNER), specs, *args], env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        mine = [t for t in tenants if k8s.shard_of(t, 2) == index]
        assert f"shard {index} of 2: {len(mine)} of 4 report run(s)" in proc.stderr
    records, bad = ledger.read(out)
    assert bad == 0 and sorted(r.tenant or "" for r in records) == sorted(tenants)
    assert all(r.status == "ok" for r in records), [r.error for r in records]
