"""The function's environment: workers and threads from the CPU, the model, --env; checked
with the function's own settings parser (serving/settings.py) and joined for gcloud."""

from __future__ import annotations

import re
from collections.abc import Sequence

from deploying.checks import cpu_millicores
from deploying.errors import DeployError
from deploying.model import Model
from serving.errors import SettingsError
from serving.settings import Settings

FUNCTION_MAX_ROWS = Settings().max_rows  # the function's own MAX_ROWS default


def workers_and_threads(cpu: str, concurrency: int) -> tuple[int, int]:
    """functions-framework's WORKERS processes of THREADS threads for this instance.

    One process per whole vCPU (each holds its own copy of the model; Python runs one thread
    at a time per process), never more processes than requests; the threads share the
    instance's concurrency out.
    """
    workers = 1
    if cpu:
        workers = min(max((cpu_millicores(cpu) or 0) // 1000, 1), concurrency)
    return workers, -(-concurrency // workers)


def variables(
    *,
    cpu: str,
    concurrency: int,
    model: Model,
    prediction_log_rate: str | None,
    extra: Sequence[str],
) -> list[str]:
    """KEY=VALUE pairs in the order gcloud gets them: deploy.sh's own, then --env's."""
    workers, threads = workers_and_threads(cpu, concurrency)
    pairs = [f"THREADS={threads}", f"WORKERS={workers}", "OPENBLAS_NUM_THREADS=1"]
    if model.uri:
        pairs.append(f"MODEL_URI={model.uri}")
    if model.sha256:
        pairs.append(f"MODEL_SHA256={model.sha256}")
    if model.allow_unpinned:
        pairs.append("MODEL_ALLOW_UNPINNED=true")
    if prediction_log_rate is not None:
        pairs.append(f"PREDICTION_LOG_RATE={prediction_log_rate}")
    for pair in extra:
        if not re.match(r"[A-Za-z_][A-Za-z0-9_]*=", pair):
            raise DeployError(f"--env needs KEY=VALUE, got '{pair}'")
        if prediction_log_rate is not None and pair.startswith("PREDICTION_LOG_RATE="):
            raise DeployError(
                "--prediction-log sets PREDICTION_LOG_RATE itself: use --prediction-log-rate, "
                f"not --env {pair}"
            )
        pairs.append(pair)
    return pairs


def max_rows(pairs: Sequence[str]) -> int:
    """The MAX_ROWS the function will apply (its default when the pairs do not parse)."""
    try:
        return function_settings(pairs).max_rows
    except DeployError:
        return FUNCTION_MAX_ROWS


def function_settings(pairs: Sequence[str]) -> Settings:
    """The settings the deployed function will start with; refused as it would refuse them."""
    try:
        return Settings.from_env(dict(pair.split("=", 1) for pair in pairs))
    except SettingsError as exc:
        raise DeployError(f"--env: {exc}") from None


def gcloud_flag(pairs: Sequence[str]) -> str:
    """--set-env-vars' value. gcloud splits KEY=VALUE lists on commas; the delimiter becomes
    '@' when a value holds one (see 'gcloud topic escaping'). A value with both cannot pass."""
    if not any("," in pair for pair in pairs):
        return ",".join(pairs)
    for pair in pairs:
        if "@" in pair:
            raise DeployError(
                "--env values may hold ',' or '@' but not both (deploy.sh passes them to gcloud "
                f"separated by one of the two), got '{pair}'"
            )
    return "^@^" + "@".join(pairs)
