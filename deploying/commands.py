"""The gcloud, bq and curl command lines deploy.sh runs, built from checked values only.

Pure functions: each returns the words of one command, so a test can compare them in-process.
A gen2 function's traffic is its Cloud Run service's traffic (same name): rollouts go
through `gcloud run services` on both targets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

ENTRY_POINT = "predict"
STABLE_TAG = "stable"  # the revision that served before a canary (--rollback target)
CANARY_TAG = "canary"  # the canary revision; its own URL is https://canary---...
HEALTH_TIMEOUT_SECONDS = 120  # a canary's first /health may be a cold start at 0.083 vCPU


@dataclass(frozen=True)
class Service:
    """Where the function is: its project, region and name (its Cloud Run service's too)."""

    project: str
    region: str
    name: str

    @property
    def where(self) -> list[str]:
        return [f"--project={self.project}", f"--region={self.region}"]


@dataclass(frozen=True)
class Deployment:
    """A checked deploy: everything the deploy command itself needs."""

    service: Service
    target: str  # functions | run
    source: str
    runtime: str
    memory: str
    cpu: str  # empty: left to gcloud
    min_instances: str
    max_instances: str
    concurrency: str
    timeout: str
    service_account: str
    public: bool
    cpu_boost: bool
    canary: bool
    env_flag: str  # --set-env-vars' value, delimiter included
    gcloud_args: tuple[str, ...]


def deploy(deployment: Deployment, source: str | None = None) -> list[str]:
    """`gcloud functions deploy` or `gcloud run deploy`, uploading `source` (default: the
    deployment's)."""
    d = deployment
    folder = source or d.source
    if d.target == "functions":
        command = ["gcloud", "functions", "deploy", d.service.name, "--gen2"]
        command += [f"--runtime={d.runtime}", f"--entry-point={ENTRY_POINT}", "--trigger-http"]
        command += [f"--source={folder}", *_instance(d)]
        # A plain deploy serves at once; a canary leaves the traffic where it was pinned.
        if not d.canary:
            command.append("--serve-all-traffic-latest-revision")
    else:
        command = ["gcloud", "run", "deploy", d.service.name, f"--source={folder}"]
        command += [f"--function={ENTRY_POINT}", f"--base-image={d.runtime}", *_instance(d)]
        command.append("--cpu-boost" if d.cpu_boost else "--no-cpu-boost")
        if d.canary:
            command += ["--no-traffic", f"--tag={CANARY_TAG}"]
    return [*command, *d.gcloud_args]


def _instance(d: Deployment) -> list[str]:
    """The flags both deploy commands share: where, size, scaling, identity, access, env."""
    flags = [*d.service.where, f"--memory={d.memory}"]
    if d.cpu:
        flags.append(f"--cpu={d.cpu}")
    flags += [f"--min-instances={d.min_instances}", f"--max-instances={d.max_instances}"]
    flags += [f"--concurrency={d.concurrency}", f"--timeout={d.timeout}"]
    if d.service_account:
        flags.append(f"--service-account={d.service_account}")
    flags.append("--allow-unauthenticated" if d.public else "--no-allow-unauthenticated")
    return [*flags, f"--set-env-vars={d.env_flag}"]


def after_deploy(d: Deployment) -> list[str] | None:
    """What a functions deploy needs next, if anything.

    `gcloud functions deploy` has no boost flag and writes the Cloud Run revision template
    whole, dropping the boost: set it (and the canary's tag) on the service after it.
    """
    if d.target != "functions":
        return None
    update = ["gcloud", "run", "services", "update", d.service.name, *d.service.where]
    if d.canary:
        return [*update, "--no-traffic", f"--tag={CANARY_TAG}"] + (
            ["--cpu-boost"] if d.cpu_boost else []
        )
    return [*update, "--cpu-boost"] if d.cpu_boost else None


def describe_url(d: Deployment) -> list[str]:
    """The command that prints the deployed function's URL."""
    if d.target == "functions":
        describe = ["gcloud", "functions", "describe", d.service.name, *d.service.where]
        return [*describe, "--format=value(serviceConfig.uri)"]
    describe = ["gcloud", "run", "services", "describe", d.service.name, *d.service.where]
    return [*describe, "--format=value(status.url)"]


def describe_service(service: Service) -> list[str]:
    """The Cloud Run service behind the function, as JSON (its traffic and tags)."""
    command = ["gcloud", "run", "services", "describe", service.name, *service.where]
    return [*command, "--format=json"]


def update_traffic(service: Service, *flags: str) -> list[str]:
    return ["gcloud", "run", "services", "update-traffic", service.name, *service.where, *flags]


def copy_to_gcs(paths: Sequence[str], destination: str, project: str) -> list[str]:
    return ["gcloud", "storage", "cp", *paths, destination, f"--project={project}"]


def health_check(url: str) -> list[str]:
    """GET URL/health as a dry run prints it: ready to paste, the token asked for in place."""
    token = "$(gcloud auth print-identity-token)"
    return [*_curl(), "-H", f"Authorization: Bearer {token}", url]


def health_check_request(url: str, token: str, body_file: str) -> list[str]:
    """GET URL/health with the token; the body into `body_file`, the status on stdout."""
    return [
        *_curl(),
        "-o",
        body_file,
        "-w",
        "%{http_code}",
        "-H",
        f"Authorization: Bearer {token}",
        url,
    ]


def health_check_shown(url: str) -> list[str]:
    """The health check as a real run shows it (the token left out)."""
    return [*_curl(), url]


def _curl() -> list[str]:
    return ["curl", "-sS", "--max-time", str(HEALTH_TIMEOUT_SECONDS)]


# BigQuery remote function (--bigquery)


def show_connection(project: str, connection: str) -> list[str]:
    return ["bq", "show", "--connection", "--format=json", f"--project_id={project}", connection]


def make_connection(project: str, location: str, connection_id: str) -> list[str]:
    return [
        *("bq", "mk", "--connection", "--connection_type=CLOUD_RESOURCE"),
        *(f"--location={location}", f"--project_id={project}", connection_id),
    ]


def allow_invoker(target: str, service: Service, account: str) -> list[str]:
    """Let a service account call the function."""
    member = f"--member=serviceAccount:{account}"
    if target == "functions":
        grant = ["gcloud", "functions", "add-invoker-policy-binding", service.name]
        return [*grant, *service.where, member]
    grant = ["gcloud", "run", "services", "add-iam-policy-binding", service.name]
    return [*grant, *service.where, member, "--role=roles/run.invoker"]


def bigquery_query(project: str, location: str, sql: str) -> list[str]:
    return [
        *("bq", "query", f"--project_id={project}", f"--location={location}"),
        *("--use_legacy_sql=false", sql),
    ]


# Prediction log (--prediction-log)


def describe_sink(project: str, sink: str, field: str) -> list[str]:
    """One field of a Cloud Logging sink: `name` (does it exist?) or `writerIdentity`."""
    describe = ["gcloud", "logging", "sinks", "describe", sink, f"--project={project}"]
    return [*describe, f"--format=value({field})"]


def write_sink(verb: str, sink: str, destination: str, project: str, log_filter: str) -> list[str]:
    """`gcloud logging sinks create` or `update`: the sink into a BigQuery dataset."""
    return [
        *("gcloud", "logging", "sinks", verb, sink, destination, f"--project={project}"),
        *(f"--log-filter={log_filter}", "--use-partitioned-tables"),
    ]


def grant_dataset(project: str, dataset: str, member: str) -> list[str]:
    """Let `member` write into the dataset."""
    return [
        *("bq", "add-iam-policy-binding", f"--project_id={project}", f"--member={member}"),
        *("--role=roles/bigquery.dataEditor", "-d", f"{project}:{dataset}"),
    ]
