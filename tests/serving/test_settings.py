"""Settings: each variable, bad values naming the variable (and stopping start-up, in process
and on a real server), defaults documented in docs/settings.md."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

import pytest

from serving.errors import SettingsError
from serving.settings import BUNDLED_MODEL_DIR, Settings
from tests.support.fixture_types import MakeClient
from tests.support.servers import start_server

pytestmark = pytest.mark.in_process

REPO = Path(__file__).resolve().parents[2]
SHA = "ab" * 32
# Settings field <- the variable that sets it.
VARIABLES = {
    "model_uri": "MODEL_URI",
    "model_sha256": "MODEL_SHA256",
    "model_runtime": "MODEL_RUNTIME",
    "max_rows": "MAX_ROWS",
    "max_body_bytes": "MAX_BODY_BYTES",
    "log_level": "LOG_LEVEL",
}


def test_no_variables_give_the_defaults() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.model_uri == str(BUNDLED_MODEL_DIR)
    assert (BUNDLED_MODEL_DIR / "manifest.json").is_file()
    assert settings.model_sha256 is None
    assert settings.project_id is None


def test_empty_values_give_the_defaults() -> None:
    assert Settings.from_env({name: "  " for name in VARIABLES.values()}) == Settings()


@pytest.mark.parametrize(
    ("env", "field", "value"),
    [
        ({"MODEL_URI": "/srv/models/m1"}, "model_uri", "/srv/models/m1"),
        ({"MODEL_URI": " /srv/m "}, "model_uri", "/srv/m"),
        ({"MODEL_SHA256": SHA}, "model_sha256", SHA),
        ({"MODEL_SHA256": f" {SHA.upper()} "}, "model_sha256", SHA),
        ({"MODEL_RUNTIME": "sklearn"}, "model_runtime", "sklearn"),
        ({"MODEL_RUNTIME": "ONNX"}, "model_runtime", "onnx"),
        ({"MODEL_RUNTIME": "auto"}, "model_runtime", "auto"),
        ({"MAX_ROWS": "5"}, "max_rows", 5),
        ({"MAX_ROWS": " 1 "}, "max_rows", 1),
        ({"MAX_BODY_BYTES": "1024"}, "max_body_bytes", 1024),
        ({"BODY_TIMEOUT_SECONDS": "2.5"}, "body_timeout_seconds", 2.5),
        ({"LOG_LEVEL": "debug"}, "log_level", "DEBUG"),
        ({"LOG_LEVEL": "WARNING"}, "log_level", "WARNING"),
        ({"LOG_LEVEL": "Error"}, "log_level", "ERROR"),
        ({"GOOGLE_CLOUD_PROJECT": "p1"}, "project_id", "p1"),
        ({"GCP_PROJECT": "p2"}, "project_id", "p2"),
        ({"GOOGLE_CLOUD_PROJECT": "p1", "GCP_PROJECT": "p2"}, "project_id", "p1"),
        ({"MODEL_ALLOW_UNPINNED": "yes"}, "model_allow_unpinned", True),
        ({"MODEL_FETCH_TIMEOUT_SECONDS": "4.5"}, "model_fetch_timeout_seconds", 4.5),
        ({"MODEL_RETRY_SECONDS": "3"}, "model_retry_seconds", 3.0),
        ({"AIP_PREDICT_ROUTE": "/v1/p/"}, "vertex_predict_route", "/v1/p"),
        ({"AIP_HEALTH_ROUTE": "/"}, "vertex_health_route", "/"),
        ({"PREDICTION_LOG_RATE": "0.5"}, "prediction_log_rate", 0.5),
        ({"PREDICTION_LOG_RATE": "0"}, "prediction_log_rate", 0.0),
        ({"PREDICTION_LOG_RATE": "1"}, "prediction_log_rate", 1.0),
    ],
)
def test_each_variable_sets_its_field(env: dict[str, str], field: str, value: object) -> None:
    settings = Settings.from_env(env)
    assert getattr(settings, field) == value
    others = {f.name for f in dataclasses.fields(Settings)} - {field}
    assert all(getattr(settings, name) == getattr(Settings(), name) for name in others)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("true", True), ("1", True), ("yes", True), (" YES ", True), ("True", True),
        ("", False), ("false", False), ("0", False), ("no", False), ("No", False),
    ],
)  # fmt: skip
def test_a_flag_reads_the_usual_spellings(raw: str, value: bool) -> None:
    assert Settings.from_env({"MODEL_ALLOW_UNPINNED": raw}).model_allow_unpinned is value


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("MAX_ROWS", "0", "a positive integer"),
        ("MAX_ROWS", "-3", "a positive integer"),
        ("MAX_ROWS", "ten", "a positive integer"),
        ("MAX_ROWS", "1.5", "a positive integer"),
        ("MAX_BODY_BYTES", "0", "a positive integer"),
        ("MAX_BODY_BYTES", "10MB", "a positive integer"),
        ("BODY_TIMEOUT_SECONDS", "0", "a positive number of seconds"),
        ("BODY_TIMEOUT_SECONDS", "soon", "a positive number of seconds"),
        ("MODEL_FETCH_TIMEOUT_SECONDS", "0", "a positive number of seconds"),
        ("MODEL_RETRY_SECONDS", "nan", "a positive number of seconds"),
        ("MODEL_RETRY_SECONDS", "inf", "a positive number of seconds"),
        ("MODEL_ALLOW_UNPINNED", "maybe", "true or false"),
        ("PREDICTION_LOG_RATE", "1.01", "a share from 0 to 1"),
        ("PREDICTION_LOG_RATE", "-0.1", "a share from 0 to 1"),
        ("PREDICTION_LOG_RATE", "often", "a share from 0 to 1"),
        ("AIP_PREDICT_ROUTE", "predict", "a URL path starting with /"),
        ("AIP_HEALTH_ROUTE", "/a b", "a URL path starting with /"),
        ("MODEL_SHA256", "abc", "64 hex characters (a sha256)"),
        ("MODEL_SHA256", "g" * 64, "64 hex characters (a sha256)"),
        ("MODEL_SHA256", SHA + "0", "64 hex characters (a sha256)"),
        ("MODEL_RUNTIME", "tensorflow", "one of auto, onnx, sklearn"),
        ("LOG_LEVEL", "LOUD", "one of DEBUG, INFO, WARNING, ERROR"),
        ("LOG_LEVEL", "CRITICAL!", "one of DEBUG, INFO, WARNING, ERROR"),
        ("MODEL_GENERATION", "0", "a positive integer"),
        ("MAX_ROWS", "x" * 100, "a positive integer"),
    ],
)
def test_a_bad_value_says_what_the_variable_takes(name: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({name: value})
    assert caught.value.message == f"{name} must be {expected}, got {value[:80]!r}"


def test_a_remote_model_must_be_pinned_or_accepted_unpinned() -> None:
    with pytest.raises(SettingsError) as unpinned:
        Settings.from_env({"MODEL_URI": "gs://bucket/model"})
    assert unpinned.value.message == (
        "MODEL_URI gs://bucket/model is remote but MODEL_SHA256 is not set: pin the sha256 of "
        "its manifest.json, or set MODEL_ALLOW_UNPINNED=true to accept the risk"
    )
    accepted = {"MODEL_URI": "gs://bucket/model", "MODEL_ALLOW_UNPINNED": "true"}
    assert Settings.from_env(accepted).model_allow_unpinned is True
    pinned = {"MODEL_URI": "gs://bucket/model", "MODEL_SHA256": SHA, "MODEL_GENERATION": "7"}
    assert Settings.from_env(pinned).model_generation == 7
    with pytest.raises(SettingsError) as misplaced:
        Settings.from_env({"MODEL_GENERATION": "7"})
    assert misplaced.value.message == "MODEL_GENERATION applies only to a gs:// MODEL_URI"
    for bucketless in ("gs://", "gs:///model/"):
        with pytest.raises(SettingsError, match=r"^MODEL_URI "):
            Settings.from_env({"MODEL_URI": bucketless, "MODEL_SHA256": SHA})
    with pytest.raises(SettingsError, match=r"^MODEL_GENERATION "):
        Settings.from_env({**accepted, "MODEL_GENERATION": "x"})


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.max_rows = 1  # type: ignore[misc]


def readme_settings_table() -> dict[str, str]:
    """docs/settings.md's Settings table: variable -> default column."""
    text = (REPO / "docs" / "settings.md").read_text()
    section = text.split("## Settings", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([A-Z0-9_]+)` \| ([^|]+) \|", section, flags=re.MULTILINE)
    return {name: default.strip() for name, default in rows}


def read_variables() -> set[str]:
    """The variables settings.py reads that set a field of the same name (MAX_ROWS: max_rows)."""
    source = (REPO / "serving" / "settings.py").read_text()
    fields = {f.name for f in dataclasses.fields(Settings)}
    return {name for name in re.findall(r'"([A-Z][A-Z0-9_]+)"', source) if name.lower() in fields}


def test_readme_documents_every_variable_and_its_default() -> None:
    table = readme_settings_table()
    assert set(VARIABLES.values()) <= read_variables()
    missing = read_variables() - set(table)
    assert not missing, f"docs/settings.md's Settings table lacks {sorted(missing)}"
    defaults = Settings()
    for name, documented in table.items():
        field = name.lower()
        if not hasattr(defaults, field):
            continue
        actual = getattr(defaults, field)
        token = documented.split()[0].strip("`")
        if field == "model_uri":
            assert "bundled `model/`" in documented
            assert Path(actual) == REPO / "model"
        elif actual is None:
            assert token == "unset", name
        elif isinstance(actual, bool):
            assert token == str(actual).lower(), name
        elif isinstance(actual, int | float):
            assert float(token) == actual, name
        else:
            assert token == actual, name


def test_only_settings_reads_the_environment() -> None:
    readers = [
        path.relative_to(REPO).as_posix()
        for path in sorted((REPO / "serving").rglob("*.py"))
        if re.search(r"os\.environ|getenv|environ\[", path.read_text())
    ]
    assert readers == []


# --- a bad value stops start-up, naming the variable ------------------------------------------


def test_bad_setting_stops_the_app_at_start_up(make_client: MakeClient) -> None:
    with pytest.raises(SettingsError, match="MAX_ROWS"):
        make_client(MAX_ROWS="lots")


@pytest.mark.parametrize(
    ("name", "value"),
    [("MAX_ROWS", "zero"), ("MODEL_SHA256", "not-a-hash"), ("LOG_LEVEL", "CHATTY")],
)
def test_bad_setting_stops_a_real_server_at_start_up(name: str, value: str) -> None:
    server = start_server({name: value}, wait=False)
    try:
        returncode = server.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.stop()
        raise
    assert returncode != 0
    assert name in server.logs()
    assert value in server.logs()
