"""The command line: deploy.sh's flags, each falling back to its environment variable, then to
the default.

argparse maps the words to options; `_words` first reads them the way deploy.sh always has:
`--flag=value` is split at the first `=`, a value may start with one `-` but not two, `--`
ends the options (the rest goes to gcloud), and the first problem, in order, is the one
reported.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from deploying.errors import DeployError

# Defaults: one block, so cold-start measurements can retune them in one place.
DEFAULT_TARGET = "functions"  # functions (gcloud functions deploy --gen2) | run
DEFAULT_REGION = "us-central1"
DEFAULT_NAME = "sklearn-predict"
DEFAULT_RUNTIME = "python312"  # one of deploy.sh's SUPPORTED_RUNTIMES
# Chosen from bench/tiers.py: docs/deploying.md, "Choosing memory and CPU".
DEFAULT_MEMORY = "512Mi"
DEFAULT_CPU = ""  # empty: left to gcloud (derived from memory on gen2, 1 on Run)
DEFAULT_MIN_INSTANCES = "0"  # scale to zero: no idle cost, cold starts after idle
DEFAULT_MAX_INSTANCES = "10"  # caps cost and load on anything downstream
DEFAULT_CONCURRENCY = "1"  # requests per instance; >1 needs --cpu 1 or more
DEFAULT_TIMEOUT = "60s"
DEFAULT_BIGQUERY_OUTPUT = "label"  # --bigquery: label | probabilities | probability:CLASS
DEFAULT_BIGQUERY_BATCH_ROWS = "500"  # rows per call BigQuery sends (max_batching_rows)
DEFAULT_PREDICTION_LOG_RATE = "0.1"  # share of requests logged with --prediction-log

# Flags that take a value: flag -> (attribute, environment variables in order, default).
VALUED: dict[str, tuple[str, tuple[str, ...], str]] = {
    "--project": (
        "project",
        ("DEPLOY_PROJECT", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"),
        "",
    ),
    "--region": ("region", ("DEPLOY_REGION",), DEFAULT_REGION),
    "--name": ("name", ("DEPLOY_NAME",), DEFAULT_NAME),
    "--target": ("target", ("DEPLOY_TARGET",), DEFAULT_TARGET),
    "--source": ("source", ("DEPLOY_SOURCE",), ""),
    "--runtime": ("runtime", ("DEPLOY_RUNTIME",), DEFAULT_RUNTIME),
    "--memory": ("memory", ("DEPLOY_MEMORY",), DEFAULT_MEMORY),
    "--cpu": ("cpu", ("DEPLOY_CPU",), DEFAULT_CPU),
    "--min-instances": ("min_instances", ("DEPLOY_MIN_INSTANCES",), DEFAULT_MIN_INSTANCES),
    "--max-instances": ("max_instances", ("DEPLOY_MAX_INSTANCES",), DEFAULT_MAX_INSTANCES),
    "--concurrency": ("concurrency", ("DEPLOY_CONCURRENCY",), DEFAULT_CONCURRENCY),
    "--timeout": ("timeout", ("DEPLOY_TIMEOUT",), DEFAULT_TIMEOUT),
    "--service-account": ("service_account", ("DEPLOY_SERVICE_ACCOUNT",), ""),
    "--model-uri": ("model_uri", ("MODEL_URI",), ""),
    "--model-sha256": ("model_sha256", ("MODEL_SHA256",), ""),
    "--upload-model": ("upload_model", ("DEPLOY_UPLOAD_MODEL",), ""),
    "--model-dir": ("model_dir", ("DEPLOY_MODEL_DIR",), ""),
    "--env": ("env", (), ""),
    "--canary": ("canary_percent", (), ""),
    "--bigquery": ("bigquery", (), ""),
    "--bigquery-output": ("bigquery_output", (), ""),
    "--bigquery-connection": ("bigquery_connection", (), ""),
    "--bigquery-location": ("bigquery_location", (), ""),
    "--bigquery-batch-rows": ("bigquery_batch_rows", (), DEFAULT_BIGQUERY_BATCH_ROWS),
    "--bigquery-manifest": ("bigquery_manifest", (), ""),
    "--prediction-log": ("prediction_log", (), ""),
    "--prediction-log-rate": ("prediction_log_rate", (), ""),
}
SWITCHES = (
    "--dry-run",
    "--public",
    "--allow-unpinned",
    "--no-cpu-boost",
    "--promote",
    "--rollback",
)
ROLLOUTS = ("--canary", "--promote", "--rollback")


class HelpAsked(Exception):
    """-h or --help: print the usage and stop, whatever else was given."""


@dataclass(frozen=True)
class Options:
    """What the command line and the environment asked for, as given (checked later)."""

    project: str
    region: str
    name: str
    target: str
    source: str
    runtime: str
    memory: str
    cpu: str
    min_instances: str
    max_instances: str
    concurrency: str
    timeout: str
    service_account: str
    model_uri: str
    model_sha256: str
    upload_model: str
    model_dir: str
    env: tuple[str, ...]
    canary_percent: str
    bigquery: str
    bigquery_output: str
    bigquery_connection: str
    bigquery_location: str
    bigquery_batch_rows: str
    bigquery_manifest: str
    prediction_log: str
    prediction_log_rate: str
    dry_run: bool
    public: bool
    allow_unpinned: bool
    cpu_boost: bool
    action: str  # deploy | canary | promote | rollback
    gcloud_args: tuple[str, ...]


def parse(argv: Sequence[str], environ: Mapping[str, str], home: str) -> Options:
    """The options of one run; `home` (deploy.sh's folder) is the default --source."""
    words, gcloud_args = _words(argv)
    parser = _parser(environ, home)
    found = vars(parser.parse_args(words))
    rollout = found.pop("rollout")
    action = "canary" if found["canary_percent"] else rollout or "deploy"
    found["env"] = tuple(found["env"])
    found["cpu_boost"] = not found.pop("no_cpu_boost")
    return Options(**found, action=action, gcloud_args=tuple(gcloud_args))


def _parser(environ: Mapping[str, str], home: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="deploy.sh", add_help=False, allow_abbrev=False)
    for flag, (attribute, variables, default) in VALUED.items():
        fallback = next((environ[v] for v in variables if environ.get(v)), default)
        if attribute == "source":
            fallback = fallback or home
        if flag == "--env":
            parser.add_argument(flag, dest=attribute, action="append", default=[])
        else:
            parser.add_argument(flag, dest=attribute, default=fallback)
    for switch in ("--dry-run", "--public", "--allow-unpinned", "--no-cpu-boost"):
        parser.add_argument(switch, action="store_true")
    for rollout in ("--promote", "--rollback"):
        parser.add_argument(rollout, dest="rollout", action="store_const", const=rollout[2:])
    return parser


def _words(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """argparse's words (`--flag=value` for each value) and the gcloud arguments after `--`."""
    words: list[str] = []
    rest = list(argv)
    rollout = None
    while rest:
        word = rest.pop(0)
        if word.startswith("--") and "=" in word:
            word, _, value = word.partition("=")
            rest.insert(0, value)
        if word == "--":
            return words, rest
        if word in ("-h", "--help"):
            raise HelpAsked
        if word in VALUED:
            if not rest or not rest[0] or rest[0].startswith("--"):
                raise DeployError(f"{word} needs a value (see --help)")
            words.append(f"{word}={rest.pop(0)}")
        elif word in SWITCHES:
            words.append(word)
        else:
            raise DeployError(
                f"unknown argument: {word} (see --help; gcloud arguments go after --)"
            )
        if word in ROLLOUTS:
            if rollout is not None:
                raise DeployError("choose one of --canary, --promote and --rollback")
            rollout = word
    return words, []
