"""Every option combination tests/deploying/ gives deploy.sh, as cases: arguments, environment
and set-up, with placeholders for paths. Running them and the golden file of their answers:
tests/support/dry_runs.py.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field

from tests.support.deploy_helpers import PROJECT

PENGUIN_FEATURES = [
    ("island", "string"),
    ("bill_length_mm", "number"),
    ("bill_depth_mm", "number"),
    ("flipper_length_mm", "number"),
    ("body_mass_g", "number"),
    ("sex", "string"),
    ("year", "integer"),
]
MANIFESTS = {
    # A format-2 classifier with mixed types, as train.py writes for the penguins.
    "penguins.json": {
        "format": 2,
        "task": "classification",
        "features": [{"name": name, "type": kind} for name, kind in PENGUIN_FEATURES],
        "classes": ["Adelie", "Chinstrap", "Gentoo"],
    },
    # A format-1 numeric classifier whose names need renaming, like the bundled model.
    "numeric.json": {
        "format": 1,
        "task": "classification",
        "feature_names": ["mean radius", "mean texture", "worst area"],
        "classes": [0, 1],
    },
    "regression.json": {"task": "regression", "feature_names": ["a", "b"]},
}


_REFUSALS = [
    ("no-project", (), {}, ()),
    ("no-main", ("--project", PROJECT), {}, ("main.py",)),
    ("no-requirements", ("--project", PROJECT), {}, ("requirements.txt",)),
    ("no-gcloudignore", ("--project", PROJECT), {}, (".gcloudignore",)),
    ("no-bundled-model", ("--project", PROJECT), {}, ("model/manifest.json",)),
    ("nothing-to-upload",
        ("--project", PROJECT, "--upload-model", "gs://models/v1/"), {}, ("model/manifest.json",)),
    ("remote-model-without-pin", ("--project", PROJECT), {"MODEL_URI": "gs://models/v1/"}, ()),
    ("bad-pin",
        ("--project", PROJECT, "--model-uri", "gs://m/v1/", "--model-sha256", "abc"), {}, ()),
    ("upload-not-gcs", ("--project", PROJECT, "--upload-model", "s3://models/v1/"), {}, ()),
    ("unsupported-runtime", ("--project", PROJECT, "--runtime", "python310"), {}, ()),
    ("bad-target", ("--project", PROJECT, "--target", "appengine"), {}, ()),
    ("concurrency-without-cpu", ("--project", PROJECT, "--concurrency", "8"), {}, ()),
    ("concurrency-with-small-cpu",
        ("--project", PROJECT, "--concurrency", "8", "--cpu", "0.5"), {}, ()),
    ("bad-cpu", ("--project", PROJECT, "--cpu", "lots"), {}, ()),
    ("min-above-max",
        ("--project", PROJECT, "--min-instances", "5", "--max-instances", "2"), {}, ()),
    ("max-not-a-number", ("--project", PROJECT, "--max-instances", "ten"), {}, ()),
    ("missing-value", ("--project", PROJECT, "--memory"), {}, ()),
    ("name-with-space", ("--project", PROJECT, "--name", "my model"), {}, ()),
    ("name-uppercase", ("--project", PROJECT, "--name", "Iris"), {}, ()),
    ("name-leading-dash", ("--project", PROJECT, "--name", "-iris"), {}, ()),
    ("name-over-63", ("--project", PROJECT, "--name", "a" * 64), {}, ()),
    ("memory-below-128mi", ("--project", PROJECT, "--memory", "100Mi"), {}, ()),
    ("memory-not-a-size", ("--project", PROJECT, "--memory", "abc"), {}, ()),
    ("memory-above-32gi", ("--project", PROJECT, "--memory", "64Gi"), {}, ()),
    ("timeout-not-a-duration", ("--project", PROJECT, "--timeout", "abc"), {}, ()),
    ("timeout-over-an-hour", ("--project", PROJECT, "--timeout", "2h"), {}, ()),
    ("concurrency-over-1000",
        ("--project", PROJECT, "--cpu", "1", "--concurrency", "1001"), {}, ()),
    ("setting-the-function-refuses", ("--project", PROJECT, "--env", "MAX_ROWS=abc"), {}, ()),
    ("setting-choice", ("--project", PROJECT, "--env", "MODEL_RUNTIME=tensorflow"), {}, ()),
    ("env-value-with-both-delimiters",
        ("--project", PROJECT, "--env", "A=x,y", "--env", "B=a@b"), {}, ()),
    ("canary-zero", ("--project", PROJECT, "--canary", "0"), {}, ()),
    ("canary-all", ("--project", PROJECT, "--canary", "100"), {}, ()),
    ("canary-name-too-long-for-tag-url",
        ("--project", PROJECT, "--canary", "10", "--name", "a" * 41), {}, ()),
    ("promote-and-rollback", ("--project", PROJECT, "--promote", "--rollback"), {}, ()),
    ("gcloud-flag-before-dashdash", ("--project", PROJECT, "--allow-unauthenticated"), {}, ()),
]  # fmt: skip

_BIGQUERY_REFUSALS = [
    ("no-function", ("--bigquery", "scoring")),
    ("function-starts-with-digit", ("--bigquery", "scoring.1f")),
    ("output-without-bigquery", ("--bigquery-output", "label")),
    ("unknown-output", ("--bigquery", "s.f", "--bigquery-output", "votes")),
    ("no-such-class", ("--bigquery", "s.f", "--bigquery-output", "probability:9")),
    ("probability-without-class", ("--bigquery", "s.f", "--bigquery-output", "probability")),
    ("probabilities-of-a-regressor", ("--bigquery", "s.f", "--bigquery-output", "probabilities",
        "--bigquery-manifest", "{TMP}/regression.json")),
    ("batch-rows-zero", ("--bigquery", "s.f", "--bigquery-batch-rows", "0")),
    ("batch-rows-above-max-rows", ("--bigquery", "s.f", "--env", "MAX_ROWS=100")),
    ("remote-model-without-manifest",
        ("--bigquery", "s.f", "--model-uri", "gs://b/m/", "--allow-unpinned")),
    ("manifest-missing", ("--bigquery", "s.f", "--bigquery-manifest", "missing.json")),
    ("with-promote", ("--bigquery", "s.f", "--promote")),
]  # fmt: skip

_PREDICTION_LOG_REFUSALS = [
    ("rate-zero", ("--prediction-log", "logs-project.predictions", "--prediction-log-rate", "0")),
    ("rate-above-one",
        ("--prediction-log", "logs-project.predictions", "--prediction-log-rate", "1.5")),
    ("rate-exponent",
        ("--prediction-log", "logs-project.predictions", "--prediction-log-rate", "1e-2")),
    ("rate-without-log", ("--prediction-log-rate", "0.5")),
    ("no-dataset", ("--prediction-log", "predictions")),
    ("rate-through-env",
        ("--prediction-log", "logs-project.predictions", "--env", "PREDICTION_LOG_RATE=1")),
    ("with-rollback", ("--prediction-log", "logs-project.predictions", "--rollback")),
]  # fmt: skip

# The files a word-rule case writes first (paths and @manifests as Case.files takes them).
NUMERIC = {"{SOURCE}/model/manifest.json": "@numeric.json"}
REGRESSION = {**NUMERIC, "{SOURCE}/model/reg/manifest.json": "@regression.json"}
NESTED = {"{TMP}/nested/manifest.json": "{}\n", "{TMP}/nested/sub/x": "x\n"}
_WORDS = [
    ("switch-with-equals", ("--dry-run=yes",), {}),
    ("unknown-with-equals", ("--colour=red",), {}),
    ("empty-flag-with-equals", ("--=--quiet",), {}),
    ("empty-value-with-equals", ("--memory=",), {}),
    ("value-that-is-a-flag", ("--memory", "--cpu", "1"), {}),
    ("value-with-one-dash", ("--service-account", "-x@p.iam.gserviceaccount.com"), {}),
    ("help-after-a-bad-value", ("--canary", "0", "--help"), {}),
    ("unknown-before-a-missing-value", ("--bogus", "--memory"), {}),
    ("rollout-twice-then-unknown", ("--promote", "--canary", "5", "--bogus"), {}),
    ("short-help-with-equals", ("-h=1",), {}),
    ("leading-zeros", ("--concurrency", "08", "--cpu", "2", "--min-instances", "007"), {}),
    ("canary-leading-zero", ("--canary", "05"), {}),
    ("cpu-millicores-fraction", ("--cpu", "1.9999", "--concurrency", "3"), {}),
    ("cpu-dot-only", ("--cpu", "."), {}),
    ("cpu-leading-dot", ("--cpu", ".5"), {}),
    ("cpu-trailing-dot", ("--cpu", "2."), {}),
    ("memory-decimal-units", ("--memory", "1G"), {}),
    ("memory-too-many-digits", ("--memory", "1234567Mi"), {}),
    ("timeout-bare-seconds", ("--timeout", "90"), {}),
    ("timeout-zero", ("--timeout", "0s"), {}),
    ("quoted-values", ("--env", 'GREETING=it\'s a "test"', "--", "--labels=a b"), {}),
    ("env-with-at", ("--env", "EMAIL=a@b"), {}),
    ("env-not-a-pair", ("--env", "NOEQUALS"), {}),
    ("env-max-rows-leading-zeros", ("--bigquery", "s.f", "--env", "MAX_ROWS=0400"), NUMERIC),
    ("pin-uppercase", ("--model-uri", "gs://m/v1/", "--model-sha256", "CD" * 32), {}),
    ("model-uri-absolute", ("--model-uri", "{TMP}/elsewhere"), {}),
    ("model-uri-outside-the-source", ("--model-uri", "../elsewhere"), {}),
    ("upload-model-and-model-uri", ("--upload-model", "gs://m/v2", "--model-uri", "gs://m/v1"), {}),
    ("upload-model-and-same-model-uri",
        ("--upload-model", "gs://m/v2", "--model-uri", "gs://m/v2/"), {}),
    ("upload-model-wrong-pin", ("--upload-model", "gs://m/v2", "--model-sha256", "0" * 64), {}),
    ("upload-model-subfolder",
        ("--upload-model", "gs://m/v2", "--model-dir", "{TMP}/nested"), NESTED),
    ("upload-model-bare-bucket", ("--upload-model", "gs://"), {}),
    ("bigquery-batch-rows-leading-zeros",
        ("--bigquery", "s.f", "--bigquery-batch-rows", "0250"), NUMERIC),
    ("bigquery-batch-rows-too-long",
        ("--bigquery", "s.f", "--bigquery-batch-rows", "1234567"), NUMERIC),
    ("bigquery-bad-connection", ("--bigquery", "s.f", "--bigquery-connection", "a.b"), NUMERIC),
    ("bigquery-bad-location", ("--bigquery", "s.f", "--bigquery-location", "us central"), NUMERIC),
    ("bigquery-bad-region", ("--bigquery", "s.f", "--region", "us central1"), NUMERIC),
    ("bigquery-with-pinned-manifest",
        ("--bigquery", "s.f", "--bigquery-manifest", "{TMP}/numeric.json"), NUMERIC),
    ("bigquery-canary", ("--bigquery", "s.f", "--canary", "5"), NUMERIC),
    ("bigquery-regression-label", ("--bigquery", "s.f", "--model-uri", "model/reg"), REGRESSION),
    ("prediction-log-rate-forms",
        ("--prediction-log", "a-b.c:d-e.ds_1", "--prediction-log-rate", ".5"), {}),
    ("prediction-log-rate-one", ("--prediction-log", "p-1.ds", "--prediction-log-rate", "1."), {}),
    ("prediction-log-rate-digits",
        ("--prediction-log", "p-1.ds", "--prediction-log-rate", "0001"), {}),
    ("prediction-log-rate-long",
        ("--prediction-log", "p-1.ds", "--prediction-log-rate", "0.1234567891"), {}),
    ("extra-args-only", ("--", "--quiet", "--", "x"), {}),
]  # fmt: skip


@dataclass(frozen=True)
class Case:
    """One deploy.sh call: arguments and environment with placeholders, and the set-up.

    Placeholders: {SOURCE} the serving source, {HOME} the folder deploy.sh lives in,
    {TMP} the scratch folder (manifests from MANIFESTS are there by name).
    """

    id: str
    args: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    remove: tuple[str, ...] = ()  # serving source files to delete first
    files: dict[str, str] = field(default_factory=dict)  # files to write, paths with placeholders
    gcloud: bool = True  # False: gcloud is not on PATH
    gcloud_project: str | None = None  # `gcloud config set project` first


def _source(*args: str) -> tuple[str, ...]:
    return ("--dry-run", "--project", PROJECT, "--source", "{SOURCE}", *args)


def _cases() -> Iterator[Case]:
    # test_deploy_flags.py
    yield Case("help", ("--help",))
    yield Case("default", _source())
    yield Case("no-cpu-boost", _source("--no-cpu-boost"))
    yield Case("run", _source("--target", "run"))
    yield Case("run-no-cpu-boost", _source("--target", "run", "--no-cpu-boost"))
    yield Case(
        "settings-from-env",
        ("--dry-run",),
        env={
            "GOOGLE_CLOUD_PROJECT": "from-env",
            "DEPLOY_REGION": "europe-west1",
            "DEPLOY_NAME": "iris",
            "DEPLOY_MEMORY": "1Gi",
            "DEPLOY_CPU": "2",
            "DEPLOY_CONCURRENCY": "4",
            "DEPLOY_MAX_INSTANCES": "3",
            "DEPLOY_RUNTIME": "python311",
            "DEPLOY_SOURCE": "{SOURCE}",
        },
    )
    yield Case(
        "flags-win",
        ("--dry-run", "--project=from-flag", "--region", "asia-east1", "--source", "{SOURCE}"),
        env={"DEPLOY_PROJECT": "from-env", "DEPLOY_REGION": "europe-west1"},
    )
    for cpu, concurrency in [
        (None, "1"),
        ("0.5", "1"),
        ("1", "8"),
        ("2", "1"),
        ("2", "8"),
        ("2.5", "5"),
        ("4", "2"),
        ("4000m", "80"),
    ]:
        cpu_flag = ("--cpu", cpu) if cpu else ()
        yield Case(
            f"workers-cpu-{cpu}-concurrency-{concurrency}",
            (
                "--dry-run",
                "--project=p",
                "--source",
                "{SOURCE}",
                *cpu_flag,
                "--concurrency",
                concurrency,
            ),
        )
    yield Case(
        "project-from-gcloud-config",
        ("--dry-run", "--source", "{SOURCE}"),
        gcloud_project="from-config",
    )
    yield Case("source-defaults-to-home", ("--dry-run", "--project", PROJECT))
    yield Case(
        "run-with-gcloud-args",
        (
            "--dry-run",
            "--target",
            "run",
            "--project",
            PROJECT,
            "--source",
            "{SOURCE}",
            "--",
            "--quiet",
            "--labels=team=ml",
        ),
    )
    yield Case("public", _source("--public"))
    yield Case("upload-model", _source("--upload-model", "gs://models/iris/v1"))
    yield Case("env-with-comma", _source("--env", "LOG_LEVEL=info", "--env", "ALLOWED=a,b"))
    yield Case(
        "pinned-remote-model",
        _source(),
        env={"MODEL_URI": "gs://models/iris/v1/", "MODEL_SHA256": "AB" * 32},
    )
    yield Case("allow-unpinned", _source("--model-uri", "gs://models/iris/v1/", "--allow-unpinned"))
    yield Case("canary", _source("--canary", "10"))
    for action in ("--promote", "--rollback"):
        yield Case(
            action[2:], ("--dry-run", "--project", PROJECT, "--region", "europe-west1", action)
        )

    # test_deploy_refusals.py (not dry runs: each stops before anything runs)
    for case_id, args, env, remove in _REFUSALS:
        yield Case(f"refuses-{case_id}", (*args, "--source", "{SOURCE}"), env=env, remove=remove)
    yield Case(
        "refuses-without-gcloud", ("--project", PROJECT, "--source", "{SOURCE}"), gcloud=False
    )
    yield Case("dry-run-without-gcloud", _source(), gcloud=False)
    yield Case(
        "model-folder-left-out-of-the-upload",
        _source("--model-uri", "models/v2"),
        files={"{SOURCE}/models/v2/manifest.json": "{}\n"},
    )
    yield Case(
        "model-folder-inside-the-upload",
        _source("--model-uri", "./model/v2/"),
        files={"{SOURCE}/model/v2/manifest.json": "{}\n"},
    )
    yield Case(
        "limits-accepted",
        _source(
            "--name",
            "a" * 63,
            "--memory",
            "128Mi",
            "--cpu",
            "8",
            "--concurrency",
            "1000",
            "--timeout",
            "3600",
            "--env",
            "MAX_ROWS=5",
        ),
    )

    # test_deploy_bigquery.py
    penguins = {"{SOURCE}/model/manifest.json": "@penguins.json"}
    yield Case(
        "bigquery-probability",
        _source(
            "--bigquery",
            "scoring.species",
            "--bigquery-output",
            "probability:Gentoo",
            "--bigquery-batch-rows",
            "250",
            "--no-cpu-boost",
        ),
        files=penguins,
    )
    yield Case(
        "bigquery-and-prediction-log-on-run",
        _source(
            "--target",
            "run",
            "--bigquery",
            "scoring.cancer",
            "--bigquery-output",
            "probabilities",
            "--prediction-log",
            "logs-project.predictions",
            "--prediction-log-rate",
            "0.25",
        ),
        files={"{SOURCE}/model/manifest.json": "@numeric.json"},
    )
    yield Case(
        "bigquery-connection-and-location",
        _source(
            "--bigquery",
            "scoring.species",
            "--bigquery-connection",
            "models",
            "--bigquery-location",
            "US",
        ),
        files=penguins,
    )
    for case_id, args in _BIGQUERY_REFUSALS:
        yield Case(f"bigquery-refuses-{case_id}", ("--project", PROJECT, "--dry-run", *args))

    # test_deploy_prediction_log.py
    yield Case(
        "prediction-log-update",
        _source("--prediction-log", "logs-project.predictions", "--no-cpu-boost"),
    )
    yield Case("prediction-log", _source("--prediction-log", "logs-project.predictions"))
    for case_id, args in _PREDICTION_LOG_REFUSALS:
        yield Case(f"prediction-log-refuses-{case_id}", ("--project", PROJECT, "--dry-run", *args))

    # test_deploy_functions.py, test_deploy_rollout.py, test_deploy_run.py: the full deploys'
    # options, as dry runs.
    yield Case(
        "every-option",
        _source(
            "--name",
            "iris",
            "--region",
            "europe-west1",
            "--runtime",
            "python311",
            "--memory",
            "2Gi",
            "--cpu",
            "1",
            "--min-instances",
            "1",
            "--max-instances",
            "3",
            "--concurrency",
            "8",
            "--timeout",
            "120s",
            "--service-account",
            f"predictor@{PROJECT}.iam.gserviceaccount.com",
            "--public",
            "--env",
            "MODEL_RUNTIME=sklearn",
        ),
    )
    yield Case("memory-1gi", _source("--memory", "1Gi"))
    yield Case(
        "upload-model-from-model-dir",
        _source("--model-dir", "{TMP}/trained model", "--upload-model", "gs://models/iris/v2/"),
        files={
            "{TMP}/trained model/manifest.json": '{"format": 1, "version": "v2"}\n',
            "{TMP}/trained model/model.joblib": "weights v2\n",
            "{TMP}/trained model/model.onnx": "onnx v2\n",
        },
    )
    yield Case("canary-with-token", _source("--canary", "10"), env={"DEPLOY_IDENTITY_TOKEN": "t"})
    yield Case("run-canary", _source("--target", "run", "--canary", "25"))
    yield Case(
        "run-every-flag",
        _source(
            "--target",
            "run",
            "--cpu",
            "2",
            "--concurrency",
            "4",
            "--min-instances",
            "1",
            "--service-account",
            "sa@p.iam.gserviceaccount.com",
            "--public",
            "--no-cpu-boost",
            "--",
            "--quiet",
        ),
    )
    yield Case(
        "run-sized",
        _source(
            "--target",
            "run",
            "--memory",
            "1Gi",
            "--cpu",
            "1",
            "--concurrency",
            "4",
            "--max-instances",
            "5",
        ),
    )
    yield from _word_rules()
    yield from _requirements_pins()
    yield from _bigquery_ml()


def _word_rules() -> Iterator[Case]:
    """Beyond the tests: how deploy.sh has always read its words and numbers."""
    for case_id, args, files in _WORDS:
        yield Case(f"words-{case_id}", _source(*args), files=files)
    yield Case(
        "words-everything-from-the-environment",
        ("--dry-run",),
        env={
            "DEPLOY_PROJECT": "env-project",
            "DEPLOY_REGION": "europe-west4",
            "DEPLOY_NAME": "from-env",
            "DEPLOY_TARGET": "run",
            "DEPLOY_SOURCE": "{SOURCE}",
            "DEPLOY_RUNTIME": "python313",
            "DEPLOY_MEMORY": "2Gi",
            "DEPLOY_CPU": "1000m",
            "DEPLOY_MIN_INSTANCES": "2",
            "DEPLOY_MAX_INSTANCES": "4",
            "DEPLOY_CONCURRENCY": "3",
            "DEPLOY_TIMEOUT": "5m",
            "DEPLOY_SERVICE_ACCOUNT": "sa@env-project.iam.gserviceaccount.com",
            "DEPLOY_UPLOAD_MODEL": "gs://env-models/v3",
            "DEPLOY_MODEL_DIR": "{SOURCE}/model",
        },
    )
    yield Case(
        "words-empty-environment-values",
        _source(),
        env={"DEPLOY_REGION": "", "DEPLOY_NAME": "", "MODEL_URI": "", "DEPLOY_CPU": ""},
    )
    yield Case(
        "words-relative-source",
        ("--dry-run", "--project", PROJECT, "--source", "serving repo/../serving repo"),
    )


def _requirements_pins() -> Iterator[Case]:
    """A model whose manifest lists "requirements" (issue 24's booster pin)."""
    booster = json.dumps({**MANIFESTS["numeric.json"], "requirements": ["xgboost==2.1.4"]})
    yield Case("pin-bundled-model", _source(), files={"{SOURCE}/model/manifest.json": booster})
    yield Case(
        "pin-uploaded-model",
        _source("--model-dir", "{TMP}/booster", "--upload-model", "gs://m/booster/v1"),
        files={"{TMP}/booster/manifest.json": booster, "{TMP}/booster/model.joblib": "x"},
    )
    yield Case(
        "pin-already-in-requirements",
        _source("--target", "run"),
        files={
            "{SOURCE}/model/manifest.json": booster,
            "{SOURCE}/requirements.txt": "functions-framework==3.10.2\nxgboost==2.1.4\n",
        },
    )
    yield Case(
        "pin-that-disagrees",
        _source(),
        files={
            "{SOURCE}/model/manifest.json": booster,
            "{SOURCE}/requirements.txt": "xgboost==1.7.6",
        },
    )


# A model folder with a BigQuery variant (train.py's record, a stand-in file for the variant).
VARIANT = "a stand-in for model.bigquery.onnx\n"
VARIANT_INPUTS = [
    {"feature": "island", "column": "island", "type": "STRING", "nullable": False},
    {
        "feature": "bill length (mm)",
        "column": "bill_length_mm",
        "type": "FLOAT64",
        "nullable": True,
    },
    {
        "feature": "sex",
        "column": "sex",
        "type": "STRING",
        "nullable": True,
        "null_column": "sex_is_null",
    },
    {"feature": "year", "column": "year", "type": "INT64", "nullable": False},
]


def variant_manifest(status: str = "passed", reason: str | None = None) -> str:
    record: dict[str, object] = {"status": status}
    if reason is not None:
        record["reason"] = reason
    record["inputs"] = VARIANT_INPUTS
    record["outputs"] = {"predicted_label": "STRING", "probabilities": "ARRAY<FLOAT64>"}
    sha256 = hashlib.sha256(VARIANT.encode()).hexdigest()
    manifest = {
        **MANIFESTS["penguins.json"],
        "artifacts": {
            "model.joblib": {"sha256": "0" * 64, "bytes": 1, "runtime": "sklearn"},
            "model.bigquery.onnx": {
                "sha256": sha256,
                "bytes": len(VARIANT),
                "runtime": "bigquery-ml",
            },
        },
        "bigquery_ml": record,
    }
    return json.dumps(manifest, indent=2) + "\n"


def _variant_folder(manifest: str, variant: str = VARIANT) -> dict[str, str]:
    return {
        "{TMP}/bq model/manifest.json": manifest,
        "{TMP}/bq model/model.joblib": "x",
        "{TMP}/bq model/model.bigquery.onnx": variant,
    }


def _bigquery_ml() -> Iterator[Case]:
    """deploy.sh --bigquery-ml (tests/deploying/test_deploy_bigquery_ml.py)."""
    passed = variant_manifest()
    pin = hashlib.sha256(passed.encode()).hexdigest()
    folder = ("--model-dir", "{TMP}/bq model")
    upload = ("--upload-model", "gs://models/penguins/v1/")
    remote = ("--model-uri", "gs://models/penguins/v1/", "--model-sha256", pin)
    yield Case(
        "bigquery-ml-upload",
        _source("--bigquery-ml", "scoring.penguins", *folder, *upload),
        files=_variant_folder(passed),
    )
    yield Case(
        "bigquery-ml-remote-model",
        _source("--bigquery-ml", "scoring.penguins", *folder, *remote, "--bigquery-location", "US"),
        files=_variant_folder(passed),
    )
    refusals = [
        ("failed",
            (*folder, *upload), _variant_folder(variant_manifest("failed", "labels differ"))),
        ("not-checked",
            (*folder, *upload), _variant_folder(variant_manifest("not checked", "no Python 3.10"))),
        ("no-variant", (*folder, *upload), _variant_folder(json.dumps(MANIFESTS["penguins.json"]))),
        ("tampered", (*folder, *upload), _variant_folder(passed, "another file\n")),
        ("bundled-model", (), {}),
        ("other-pin", (*folder, "--model-uri", "gs://m/v1/", "--model-sha256", "1" * 64),
            _variant_folder(passed)),
        ("bad-name", ("--bigquery-ml", "scoring"), {}),
        ("with-bigquery", ("--bigquery", "s.f"), {}),
        ("with-canary", ("--canary", "5"), {}),
    ]  # fmt: skip
    for case_id, args, files in refusals:
        name = () if "--bigquery-ml" in args else ("--bigquery-ml", "scoring.penguins")
        yield Case(f"bigquery-ml-refuses-{case_id}", _source(*name, *args), files=files)


CASES = list(_cases())
