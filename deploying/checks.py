"""The option values, checked against the platform's limits before anything runs.

Each failure is one line saying what is allowed. The limits and where they come from:
- Service names: RFC 1035 labels of at most 63 characters
  (https://cloud.google.com/run/docs/reference/rest/v1/ObjectMeta "name";
  https://cloud.google.com/functions/docs/reference/rest/v2/projects.locations.functions).
- Memory 128 MiB to 32 GiB (https://cloud.google.com/run/docs/configuring/services/memory-limits,
  https://cloud.google.com/functions/docs/configuring/memory).
- Concurrency at most 1000 (https://cloud.google.com/run/docs/about-concurrency).
- Request timeout at most 60 min for HTTP
  (https://cloud.google.com/run/docs/configuring/request-timeout,
  https://cloud.google.com/functions/docs/configuring/timeout).
- A traffic tag and the service name together at most 46 characters (Cloud Run's own error for
  longer ones: the tag URL is one DNS label).
- CPU 0.08 to 8 vCPU (https://cloud.google.com/run/docs/configuring/services/cpu).
- Regions such as us-central1 (https://cloud.google.com/run/docs/locations).
- Project IDs: lowercase letters, digits and hyphens, starting with a letter, not ending with a
  hyphen, at most 30 characters; older ones may carry a domain, example.com:my-project
  (https://cloud.google.com/resource-manager/docs/creating-managing-projects). The documented
  floor of 6 characters is not checked: test projects and the suite use shorter ids.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from deploying.commands import CANARY_TAG
from deploying.errors import DeployError
from deploying.options import DEFAULT_BIGQUERY_OUTPUT, DEFAULT_PREDICTION_LOG_RATE, Options

MIN_MEMORY_BYTES = 128 * 1024 * 1024
MAX_MEMORY_BYTES = 32 * 1024 * 1024 * 1024
MAX_CONCURRENCY = 1000
MAX_TIMEOUT_SECONDS = 3600
MAX_TAG_AND_NAME = 46
MIN_CPU_MILLICORES = 80
MAX_CPU_MILLICORES = 8000
_REGION = re.compile(r"[a-z]+(-[a-z]+)+[0-9]+")
_PROJECT = re.compile(r"([a-z][-a-z0-9.]*[a-z0-9]:)?[a-z]([-a-z0-9]{0,28}[a-z0-9])?")
_MEMORY_UNITS = {"k": 1000, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True)
class BigQuery:
    """--bigquery: the remote function to create after the deploy."""

    function: str  # DATASET.FUNCTION
    output: str
    connection: str  # the connection's id
    location: str
    batch_rows: int
    manifest: str  # --bigquery-manifest, or "" for the served model's


@dataclass(frozen=True)
class PredictionLog:
    """--prediction-log: where the sampled requests go, and the share sampled."""

    project: str
    dataset: str
    rate: str


@dataclass(frozen=True)
class Checked:
    """The options once their values are known to be allowed."""

    options: Options
    model_sha256: str  # lower case, as sha256sum prints it
    canary_percent: int | None
    bigquery: BigQuery | None
    prediction_log: PredictionLog | None


def check(options: Options, runtimes: Sequence[str]) -> Checked:
    """Refuse the first value the platform would refuse later; in deploy.sh's order."""
    o = options
    if o.target not in ("functions", "run"):
        raise DeployError(f"--target must be 'functions' or 'run', got '{o.target}'")
    if len(o.name) > 63 or not re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", o.name):
        raise DeployError(
            "--name must be 1-63 lowercase letters, digits or '-', starting with a letter and "
            f"not ending with '-', got '{o.name}'"
        )
    if not _REGION.fullmatch(o.region):
        raise DeployError(
            f"--region must be a region such as us-central1 or europe-west1, got '{o.region}'"
        )
    canary_percent = _canary_percent(o) if o.action == "canary" else None
    if o.runtime not in runtimes:
        raise DeployError(
            f"--runtime must be one of {' '.join(runtimes)} (what requirements.txt supports), "
            f"got '{o.runtime}'"
        )
    _check_scaling(o)
    _check_memory(o.memory)
    _check_timeout(o.timeout)
    if o.cpu:
        millicores = cpu_millicores(o.cpu)
        if millicores is None:
            raise DeployError(f"--cpu must look like 0.5, 1, 2 or 1000m, got '{o.cpu}'")
        if not MIN_CPU_MILLICORES <= millicores <= MAX_CPU_MILLICORES:
            raise DeployError(f"--cpu must be from 0.08 to 8 (Cloud Run's limits), got '{o.cpu}'")
    if int(o.concurrency) > 1:
        if o.cpu:
            if (cpu_millicores(o.cpu) or 0) < 1000:
                raise DeployError(
                    f"--concurrency {o.concurrency} needs --cpu 1 or more, got --cpu {o.cpu}"
                )
        elif o.target == "functions":
            raise DeployError(
                f"--concurrency {o.concurrency} needs --cpu 1 or more on Cloud Functions gen2 "
                "(give --cpu)"
            )
    if (o.bigquery or o.prediction_log) and o.action != "deploy":
        raise DeployError(
            f"--bigquery and --prediction-log go with a plain deploy, not --{o.action}"
        )
    bigquery = _bigquery(o)
    prediction_log = _prediction_log(o)
    return Checked(
        options=o,
        model_sha256=o.model_sha256.lower(),
        canary_percent=canary_percent,
        bigquery=bigquery,
        prediction_log=prediction_log,
    )


def check_project(project: str) -> str:
    """The project, refused unless it is a project ID."""
    if not _PROJECT.fullmatch(project):
        raise DeployError(
            "--project must be a project ID: lowercase letters, digits and '-', starting with a "
            f"letter, not ending with '-', at most 30 characters, got '{project}'"
        )
    return project


def _canary_percent(o: Options) -> int:
    if not re.fullmatch(r"0*[1-9][0-9]?", o.canary_percent):
        raise DeployError(
            f"--canary must be a whole percentage from 1 to 99, got '{o.canary_percent}'"
        )
    if len(o.name) + len(CANARY_TAG) > MAX_TAG_AND_NAME:
        raise DeployError(
            f"--canary needs a name of at most {MAX_TAG_AND_NAME - len(CANARY_TAG)} characters "
            f"(tag '{CANARY_TAG}' + name <= {MAX_TAG_AND_NAME} on Cloud Run), got {len(o.name)}"
        )
    return int(o.canary_percent)


def _check_scaling(o: Options) -> None:
    for flag, value in [
        ("min-instances", o.min_instances),
        ("max-instances", o.max_instances),
        ("concurrency", o.concurrency),
    ]:
        if not re.fullmatch(r"[0-9]+", value):
            raise DeployError(f"--{flag} must be a whole number, got '{value}'")
    if int(o.min_instances) > int(o.max_instances):
        raise DeployError(
            f"--min-instances ({o.min_instances}) is above --max-instances ({o.max_instances})"
        )
    if not 1 <= int(o.concurrency) <= MAX_CONCURRENCY:
        raise DeployError(
            f"--concurrency must be from 1 to {MAX_CONCURRENCY} (Cloud Run's limit), "
            f"got '{o.concurrency}'"
        )


def _check_memory(memory: str) -> None:
    size = re.fullmatch(r"([0-9]{1,6})(k|M|G|Ki|Mi|Gi)", memory)
    if size is None:
        raise DeployError(
            "--memory must be a number with a unit k, M, G, Ki, Mi or Gi (e.g. 512Mi, 1Gi), "
            f"got '{memory}'"
        )
    if not MIN_MEMORY_BYTES <= int(size[1]) * _MEMORY_UNITS[size[2]] <= MAX_MEMORY_BYTES:
        raise DeployError(f"--memory must be from 128Mi to 32Gi, got '{memory}'")


def _check_timeout(timeout: str) -> None:
    duration = re.fullmatch(r"([0-9]{1,6})(s|m|h)?", timeout)
    if duration is None:
        raise DeployError(f"--timeout must be a duration such as 60s, 5m or 1h, got '{timeout}'")
    if not 1 <= int(duration[1]) * _DURATION_UNITS[duration[2] or "s"] <= MAX_TIMEOUT_SECONDS:
        raise DeployError(
            f"--timeout must be from 1s to {MAX_TIMEOUT_SECONDS}s (60 min), got '{timeout}'"
        )


def cpu_millicores(cpu: str) -> int | None:
    """A CPU count as millicores ("0.5" -> 500, "2" -> 2000, "1000m" -> 1000); None when
    malformed. Digits past the third decimal are dropped."""
    millicores = re.fullmatch(r"([0-9]+)m", cpu)
    if millicores:
        return int(millicores[1])
    count = re.fullmatch(r"([0-9]*)(\.([0-9]{0,3})[0-9]*)?", cpu)
    if count is None or not (count[1] or count[3]):
        return None
    return int(count[1] or "0") * 1000 + int(((count[3] or "") + "000")[:3])


def _bigquery(o: Options) -> BigQuery | None:
    if not o.bigquery:
        if o.bigquery_output or o.bigquery_connection or o.bigquery_location or o.bigquery_manifest:
            raise DeployError(
                "--bigquery-output, --bigquery-connection, --bigquery-location and "
                "--bigquery-manifest need --bigquery DATASET.FUNCTION"
            )
        return None
    if not re.fullmatch(r"[A-Za-z0-9_]{1,1024}\.[A-Za-z_][A-Za-z0-9_]{0,255}", o.bigquery):
        raise DeployError(
            "--bigquery needs DATASET.FUNCTION (letters, digits and '_'; the function not "
            f"starting with a digit), got '{o.bigquery}'"
        )
    connection = o.bigquery_connection or o.name
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", connection):
        raise DeployError(
            f"--bigquery-connection must be 1-64 letters, digits, '_' or '-', got '{connection}'"
        )
    location = o.bigquery_location or o.region
    if not re.fullmatch(r"[A-Za-z0-9-]+", location):
        raise DeployError(
            "--bigquery-location must be a BigQuery location such as us-central1, US or EU, "
            f"got '{location}'"
        )
    rows = o.bigquery_batch_rows
    if not re.fullmatch(r"[0-9]{1,6}", rows) or int(rows) < 1:
        raise DeployError(
            f"--bigquery-batch-rows must be a whole number of rows, at least 1, got '{rows}'"
        )
    return BigQuery(
        function=o.bigquery,
        output=o.bigquery_output or DEFAULT_BIGQUERY_OUTPUT,
        connection=connection,
        location=location,
        batch_rows=int(rows),
        manifest=o.bigquery_manifest,
    )


def _prediction_log(o: Options) -> PredictionLog | None:
    if not o.prediction_log:
        if o.prediction_log_rate:
            raise DeployError(
                "--prediction-log-rate needs --prediction-log PROJECT.DATASET "
                "(where the entries go)"
            )
        return None
    where = re.fullmatch(r"([a-z][-a-z0-9.:]*[a-z0-9])\.([A-Za-z0-9_]{1,1024})", o.prediction_log)
    if where is None:
        raise DeployError(
            "--prediction-log needs PROJECT.DATASET (the BigQuery dataset the entries go to), "
            f"got '{o.prediction_log}'"
        )
    rate = o.prediction_log_rate or DEFAULT_PREDICTION_LOG_RATE
    written = re.fullmatch(r"[0-9]{1,3}(\.[0-9]{0,9})?|\.[0-9]{1,9}", rate)
    if written is None or not 0 < float(rate) <= 1:
        raise DeployError(
            "--prediction-log-rate must be a number with 0 < R <= 1 (the share of requests "
            f"logged), got '{rate}'"
        )
    return PredictionLog(project=where[1], dataset=where[2], rate=rate)
