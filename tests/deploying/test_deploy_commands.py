"""deploying/'s pure parts, in-process: the command lines, the words, the numbers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from deploying import commands, environment
from deploying.checks import cpu_millicores
from deploying.commands import Deployment, Service
from deploying.errors import DeployError
from deploying.options import HelpAsked, parse
from deploying.shell import command_line, quote

SERVICE = Service(project="demo-project", region="europe-west1", name="iris")
WHERE = ["--project=demo-project", "--region=europe-west1"]
FUNCTIONS = Deployment(
    service=SERVICE,
    target="functions",
    source="/src/serving repo",
    runtime="python312",
    memory="512Mi",
    cpu="",
    min_instances="0",
    max_instances="10",
    concurrency="1",
    timeout="60s",
    service_account="",
    public=False,
    cpu_boost=True,
    canary=False,
    env_flag="THREADS=1,WORKERS=1,OPENBLAS_NUM_THREADS=1",
    gcloud_args=(),
)
RUN = replace(FUNCTIONS, target="run")


def test_functions_deploy_command() -> None:
    deployment = replace(FUNCTIONS, cpu="2", service_account="sa@p", gcloud_args=("--quiet",))

    assert commands.deploy(deployment) == [
        *("gcloud", "functions", "deploy", "iris", "--gen2", "--runtime=python312"),
        *("--entry-point=predict", "--trigger-http", "--source=/src/serving repo", *WHERE),
        *("--memory=512Mi", "--cpu=2", "--min-instances=0", "--max-instances=10"),
        *("--concurrency=1", "--timeout=60s", "--service-account=sa@p"),
        *("--no-allow-unauthenticated", f"--set-env-vars={FUNCTIONS.env_flag}"),
        *("--serve-all-traffic-latest-revision", "--quiet"),
    ]


def test_run_deploy_command_with_a_canary_and_another_source() -> None:
    deployment = replace(RUN, canary=True, public=True, cpu_boost=False)

    assert commands.deploy(deployment, source="/tmp/staged") == [
        *("gcloud", "run", "deploy", "iris", "--source=/tmp/staged", "--function=predict"),
        *("--base-image=python312", *WHERE, "--memory=512Mi", "--min-instances=0"),
        *("--max-instances=10", "--concurrency=1", "--timeout=60s", "--allow-unauthenticated"),
        *(f"--set-env-vars={FUNCTIONS.env_flag}", "--no-cpu-boost", "--no-traffic"),
        "--tag=canary",
    ]


@pytest.mark.parametrize(
    ("deployment", "expected"),
    [
        (FUNCTIONS, ["--cpu-boost"]),
        (replace(FUNCTIONS, cpu_boost=False), None),
        (replace(FUNCTIONS, canary=True), ["--no-traffic", "--tag=canary", "--cpu-boost"]),
        (replace(FUNCTIONS, canary=True, cpu_boost=False), ["--no-traffic", "--tag=canary"]),
        (RUN, None),
    ],
)
def test_what_follows_a_deploy(deployment: Deployment, expected: list[str] | None) -> None:
    update = ["gcloud", "run", "services", "update", "iris", *WHERE]

    assert commands.after_deploy(deployment) == (None if expected is None else update + expected)


def test_the_other_commands() -> None:
    assert commands.describe_url(RUN)[-1] == "--format=value(status.url)"
    assert commands.describe_url(FUNCTIONS)[:3] == ["gcloud", "functions", "describe"]
    assert commands.update_traffic(SERVICE, "--to-latest") == [
        *("gcloud", "run", "services", "update-traffic", "iris", *WHERE, "--to-latest"),
    ]
    assert commands.copy_to_gcs(["a", "b"], "gs://m/v1/", "p") == [
        *("gcloud", "storage", "cp", "a", "b", "gs://m/v1/", "--project=p"),
    ]
    assert commands.allow_invoker("run", SERVICE, "sa@x")[-2:] == [
        *("--member=serviceAccount:sa@x", "--role=roles/run.invoker"),
    ]
    assert commands.bigquery_query("p", "US", "SELECT 1") == [
        *("bq", "query", "--project_id=p", "--location=US", "--use_legacy_sql=false", "SELECT 1"),
    ]
    assert commands.grant_dataset("logs", "preds", "serviceAccount:w")[-2:] == ["-d", "logs:preds"]
    assert command_line(commands.health_check("URL/health")) == (
        "curl -sS --max-time 120 -H 'Authorization: Bearer $(gcloud auth print-identity-token)' "
        "URL/health"
    )


@pytest.mark.parametrize(
    ("word", "quoted"),
    [
        ("--memory=512Mi", "--memory=512Mi"),
        ("gs://b/p/,a@b+c%", "gs://b/p/,a@b+c%"),
        ("with space", "'with space'"),
        ("it's", "'it'\\''s'"),
        ("", "''"),
        ("$(x)", "'$(x)'"),
        ("line\n", "'line\n'"),
    ],
)
def test_quote(word: str, quoted: str) -> None:
    assert quote(word) == quoted


def test_words_are_read_as_deploy_sh_always_read_them() -> None:
    environ = {"DEPLOY_REGION": "asia-east1", "GOOGLE_CLOUD_PROJECT": "from-env", "DEPLOY_CPU": ""}

    options = parse(
        ["--name=-x", "--memory", "1Gi", "--env", "A=1", "--env=B=2", "--", "--quiet"],
        environ,
        "/home",
    )

    assert (options.name, options.memory, options.env) == ("-x", "1Gi", ("A=1", "B=2"))
    assert (options.project, options.region, options.cpu) == ("from-env", "asia-east1", "")
    assert (options.source, options.gcloud_args, options.action) == (
        "/home",
        ("--quiet",),
        "deploy",
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--memory", "--cpu", "1"], "--memory needs a value (see --help)"),
        (["--memory="], "--memory needs a value (see --help)"),
        (["--dry-run=yes"], "unknown argument: yes (see --help"),
        (["--bogus", "--memory"], "unknown argument: --bogus (see --help"),
        (["--promote", "--canary", "5", "--bogus"], "choose one of --canary, --promote and"),
    ],
)
def test_the_first_problem_in_order_is_the_one_reported(argv: list[str], message: str) -> None:
    with pytest.raises(DeployError) as refused:
        parse(argv, {}, "/home")

    assert str(refused.value).startswith(message)


def test_help_wins_over_later_words() -> None:
    with pytest.raises(HelpAsked):
        parse(["--canary", "0", "--help", "--bogus"], {}, "/home")


@pytest.mark.parametrize(
    ("cpu", "millicores"),
    [("1", 1000), ("0.5", 500), (".5", 500), ("2.", 2000), ("1.9999", 1999), ("4000m", 4000)],
)
def test_cpu_millicores(cpu: str, millicores: int) -> None:
    assert cpu_millicores(cpu) == millicores


@pytest.mark.parametrize("cpu", [".", "", "lots", "1.5m", "-1"])
def test_cpu_that_is_not_a_count(cpu: str) -> None:
    assert cpu_millicores(cpu) is None


@pytest.mark.parametrize(
    ("cpu", "concurrency", "expected"),
    [("", 1, (1, 1)), ("0.5", 1, (1, 1)), ("2", 8, (2, 4)), ("2.5", 5, (2, 3)), ("4", 2, (2, 1))],
)
def test_workers_and_threads(cpu: str, concurrency: int, expected: tuple[int, int]) -> None:
    assert environment.workers_and_threads(cpu, concurrency) == expected


def test_gcloud_delimiter_switches_to_at_for_a_comma() -> None:
    assert environment.gcloud_flag(["A=1", "B=2"]) == "A=1,B=2"
    assert environment.gcloud_flag(["A=1", "B=x,y"]) == "^@^A=1@B=x,y"
    with pytest.raises(DeployError, match="may hold ',' or '@' but not both"):
        environment.gcloud_flag(["A=x,y", "B=a@b"])


def test_max_rows_is_what_the_functions_own_parser_reads() -> None:
    assert environment.max_rows(["THREADS=1"]) == environment.FUNCTION_MAX_ROWS == 10_000
    assert environment.max_rows(["MAX_ROWS= 0400 "]) == 400
    assert environment.max_rows(["MAX_ROWS=abc"]) == 10_000
    with pytest.raises(DeployError, match="--env: MAX_ROWS must be a positive integer"):
        environment.function_settings(["MAX_ROWS=abc"])
