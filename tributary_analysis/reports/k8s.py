"""Report batches on Kubernetes: a CronJob around an Indexed Job, one index per tenant shard.

``tributary report k8s`` writes the manifest (:func:`cronjob_manifest`); every pod runs the
same ``tributary report run … --shards N`` command, and Kubernetes tells each its shard in
``JOB_COMPLETION_INDEX`` (Indexed completion mode), which :func:`select_shard` reads:

* a per-tenant run belongs to shard ``sha256(tenant) mod N`` — stable whatever list of
  tenants a pod sees (each lists them from its own query), and even for a thousand tenants;
* runs without a tenant (the daily and weekly reports) belong to shard 0.

The CronJob has ``concurrencyPolicy: Forbid`` (a slow batch is never run twice at once),
credentials come from a Secret through ``envFrom`` (never in the manifest, the command or a
ConfigMap), non-secret settings are plain ``env``, and the pods write into one reports
volume (a ``ReadWriteMany`` claim whose file system supports ``flock``: the ledger's
appends are locked).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from tributary_analysis.errors import ConfigError

#: the variable Kubernetes sets in each pod of an Indexed Job
INDEX_ENV = "JOB_COMPLETION_INDEX"
#: a name the API accepts for the CronJob (it adds 11 characters for its Jobs)
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")
#: environment names that hold credentials: they belong in the Secret
_SECRET_NAME = re.compile(r"(TOKEN|PASSWORD|SECRET|API_KEY|APIKEY|WEBHOOK|HEADERS|CREDENTIAL)",
                          re.IGNORECASE)

#: the pod's TRIBUTARY_HOME: an emptyDir (the unscrubbed work area dies with the pod)
HOME_PATH = "/var/lib/tributary"

T = TypeVar("T")


def shard_of(tenant: str | None, shards: int) -> int:
    """The shard a run belongs to: ``sha256(tenant) mod shards``; no tenant → shard 0.

    Examples
    --------
    >>> shard_of(None, 4), shard_of("acme", 1)
    (0, 0)
    """
    if tenant is None:
        return 0
    return int(hashlib.sha256(tenant.encode()).hexdigest()[:12], 16) % shards


def shard_index(shards: int, index: int | None = None,
                env: Mapping[str, str] | None = None) -> int:
    """This pod's shard: ``index`` if given, else ``$JOB_COMPLETION_INDEX``; checked."""
    if shards < 1:
        raise ConfigError(f"--shards must be at least 1, got {shards}")
    if index is None:
        raw = (os.environ if env is None else env).get(INDEX_ENV)
        if raw is None:
            raise ConfigError(f"--shards {shards} needs --shard-index or ${INDEX_ENV} (which "
                              "a Kubernetes Indexed Job sets in each pod)")
        if not raw.strip().isdigit():
            raise ConfigError(f"${INDEX_ENV}={raw!r} is not a shard number; it must be an "
                              f"integer from 0 to {shards - 1}")
        index = int(raw)
    if not 0 <= index < shards:
        raise ConfigError(f"shard index {index} is outside 0..{shards - 1} for --shards "
                          f"{shards}; make the Job's completions equal to --shards")
    return index


def select_shard(requests: Sequence[T], shards: int, index: int) -> list[T]:
    """The runs of ``requests`` (objects with a ``tenant``) that belong to shard ``index``."""
    return [r for r in requests if shard_of(getattr(r, "tenant", None), shards) == index]


def _check_env(env: Mapping[str, str]) -> None:
    for key in env:
        if _SECRET_NAME.search(key):
            raise ConfigError(f"--env {key}=…: a credential does not belong in the manifest; "
                              "put it in the Secret (--secret) the pods read it from")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ConfigError(f"--env {key!r} is not an environment variable name")
    from tributary_analysis.config import redact_url

    for key, value in env.items():
        if redact_url(value) != value:
            raise ConfigError(f"--env {key}: the URL carries a password; put the URL with "
                              "its credentials in the Secret (--secret) instead")


def cronjob_manifest(
    run_args: Sequence[str],
    *,
    image: str,
    shards: int,
    schedule: str = "0 6 * * *",
    name: str = "tributary-reports",
    namespace: str | None = None,
    secret: str = "tributary-credentials",
    env: Mapping[str, str] | None = None,
    parallelism: int | None = None,
    reports_claim: str = "tributary-reports",
    reports_path: str = "/reports",
    time_zone: str = "Etc/UTC",
    deadline_s: int | None = None,
    retries: int = 0,
    cpu: str = "1",
    memory: str = "2Gi",
) -> dict[str, Any]:
    """A ``batch/v1`` CronJob whose Job runs ``tributary report run RUN_ARGS`` in ``shards``
    indexed pods.

    Parameters
    ----------
    run_args : list of str
        What follows ``tributary report run`` (reports, window, tenants, options); the
        ``--shards`` and ``--out`` options are added here.
    image : str
        A container image with this package (``tributary`` on ``PATH``) and the notebooks.
    shards : int
        Completions of the Indexed Job: tenant shards, one pod each.
    schedule, time_zone : str
        When the CronJob starts a batch (cron syntax) and in which zone.
    name, namespace : str
        The CronJob's name (lower-case DNS label, at most 40 characters) and namespace.
    secret : str
        The Secret whose keys become the pods' environment: ``TRIBUTARY_PROMETHEUS_TOKEN``,
        ``TRIBUTARY_ES_PASSWORD``, ``TRIBUTARY_REPORT_WEBHOOK_URL``...
    env : dict, optional
        Non-secret settings (``TRIBUTARY_PROMETHEUS_URL``...); a credential is refused.
    parallelism : int, optional
        Pods at once (default: every shard).
    reports_claim, reports_path : str
        The PersistentVolumeClaim the pods share for ``--out``, and where it is mounted.
    deadline_s : int, optional
        ``activeDeadlineSeconds`` of the Job (default: none).
    retries : int
        Retries per shard (``backoffLimitPerIndex``): a failed report already has its
        failure page, so the default is none.
    cpu, memory : str
        Requests per pod (memory is also the limit).
    """
    if not _NAME.match(name):
        raise ConfigError(f"--name {name!r} is not a CronJob name: lower-case letters, digits "
                          "and '-', at most 40 characters, starting and ending alphanumeric")
    if shards < 1:
        raise ConfigError(f"--shards must be at least 1, got {shards}")
    if parallelism is not None and parallelism < 1:
        raise ConfigError(f"--parallelism must be at least 1, got {parallelism}")
    if retries < 0:
        raise ConfigError(f"--retries must be 0 or more, got {retries}")
    if not image.strip():
        raise ConfigError("--image is empty; give the container image with tributary in it")
    if any(a == "--shards" or a.startswith("--shards=") or a == "--out" for a in run_args):
        raise ConfigError("--shards and --out are set by the manifest; leave them out of the "
                          "report arguments")
    env = dict(env or {})
    _check_env(env)
    env.setdefault("TRIBUTARY_HOME", HOME_PATH)  # kernelspec, private work area
    labels = {"app.kubernetes.io/name": "tributary-reports",
              "app.kubernetes.io/instance": name}
    container = {
        "name": "reports",
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["tributary"],
        "args": ["report", "run", *run_args, "--shards", str(shards),
                 "--out", reports_path],
        "env": [{"name": k, "value": v} for k, v in sorted(env.items())],
        "envFrom": [{"secretRef": {"name": secret}}],
        "volumeMounts": [{"name": "reports", "mountPath": reports_path},
                         {"name": "home", "mountPath": HOME_PATH}],
        "resources": {"requests": {"cpu": cpu, "memory": memory},
                      "limits": {"memory": memory}},
        "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True,
                            "capabilities": {"drop": ["ALL"]}},
    }
    job_spec: dict[str, Any] = {
        "completionMode": "Indexed",
        "completions": shards,
        "parallelism": min(parallelism or shards, shards),
        "backoffLimitPerIndex": retries,
        "template": {
            "metadata": {"labels": dict(labels)},
            "spec": {
                "restartPolicy": "Never",
                "containers": [container],
                "volumes": [{"name": "reports",
                             "persistentVolumeClaim": {"claimName": reports_claim}},
                            {"name": "home", "emptyDir": {}}],
                "securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                                    "fsGroup": 1000},
            },
        },
    }
    if deadline_s is not None:
        job_spec["activeDeadlineSeconds"] = int(deadline_s)
    metadata: dict[str, Any] = {"name": name, "labels": dict(labels)}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": metadata,
        "spec": {
            "schedule": schedule,
            "timeZone": time_zone,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 3600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {"metadata": {"labels": dict(labels)}, "spec": job_spec},
        },
    }


def to_yaml(manifest: Mapping[str, Any], *, secret: str = "tributary-credentials") -> str:
    """The manifest as YAML, after a comment saying how to create its Secret."""
    import yaml

    head = (
        "# Tributary report batch: a CronJob running an Indexed Job, one pod per tenant\n"
        "# shard (each reads JOB_COMPLETION_INDEX). Credentials come from the Secret\n"
        f"# {secret!r}; create it once, e.g.:\n"
        f"#   kubectl create secret generic {secret} \\\n"
        "#     --from-literal=TRIBUTARY_PROMETHEUS_TOKEN=... \\\n"
        "#     --from-literal=TRIBUTARY_ES_PASSWORD=...\n"
    )
    return head + yaml.safe_dump(dict(manifest), sort_keys=False, default_flow_style=False)
