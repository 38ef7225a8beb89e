"""`train.py --code`: the user's own modules shipped with the model (issue 25 item 9), packaged,
checked in a fresh Python that sees only the upload set, and served by a real server from a
local folder and from fake-gcs-server, importable only after every hash matched."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests

import train
from serving.errors import IntegrityError
from serving.manifest import Manifest, sha256_hex
from serving.storage import LocalStore
from serving.user_code import importable, read_code
from tests.support import schema_packages
from tests.support.every_format import disagreements
from tests.support.fixture_types import MakeClient
from tests.support.gcs_server import FakeGcs
from tests.support.schema_packages import USER_FEATURES, Package
from tests.support.servers import REPO, offline_gcloud_env, start_server
from training import isolation
from training.data import DataError
from training.user_code import collect

BUCKET = "models"


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> Package:
    return schema_packages.custom_code(tmp_path_factory.mktemp("custom-code"))


def rows(package: Package, count: int = 25) -> list[dict[str, Any]]:
    return [
        {k: float(v) for k, v in row.items()}
        for row in package.frame.iloc[:count].to_dict("records")
    ]


def expected(package: Package, count: int = 25) -> Any:
    return package.model().predict_proba(package.frame.iloc[:count])


def test_the_code_is_in_the_folder_and_pinned_by_the_manifest(shipped: Package) -> None:
    manifest = json.loads((shipped.folder / "manifest.json").read_text())
    data = USER_FEATURES.encode()
    assert manifest["code"] == {
        "user_features.py": {"sha256": sha256_hex(data), "bytes": len(data)}
    }
    assert (shipped.folder / "code" / "user_features.py").read_bytes() == data


def test_without_code_the_refusal_names_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], shipped: Package
) -> None:
    args = ["--from-model", str(shipped.folder.parent / "model.joblib"), "--data"]
    args += [str(shipped.csv), "--target", "species", "--out", str(tmp_path / "out")]
    assert train.main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "it needs the module 'user_features', which the function would not have" in err
    assert "--code user_features.py" in err


def test_served_from_a_local_folder_by_a_real_server(shipped: Package) -> None:
    server = start_server(
        {"MODEL_URI": str(shipped.folder)},
        source=REPO / "tests" / "support" / "introspect_entry.py",
    )
    manifest = json.loads((shipped.folder / "manifest.json").read_text())
    try:
        answer = requests.post(
            server.url, json={"instances": rows(shipped), "probabilities": True}, timeout=60
        )
        modules = requests.get(f"{server.url}/__test__/modules", timeout=30).json()
        frame = shipped.frame.iloc[:25]
        every = disagreements(
            server.url, frame, manifest, "predict_proba", expected(shipped), 1e-12
        )
    finally:
        server.stop()
    assert answer.status_code == 200, answer.text
    np.testing.assert_allclose(answer.json()["probabilities"], expected(shipped), atol=1e-12)
    assert "user_features" in modules
    assert every == {}, "JSON, CSV, OIP (JSON and binary) and BigQuery answer alike"


def upload(url: str, folder: Path, prefix: str) -> None:
    """Every file of the model folder, code/ included, under gs://models/prefix/."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(
        project="test", credentials=AnonymousCredentials(), client_options={"api_endpoint": url}
    )
    bucket = client.bucket(BUCKET)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        bucket.blob(f"{prefix}/{path.relative_to(folder).as_posix()}").upload_from_filename(path)


def gcs_env(gcs: FakeGcs, prefix: str, folder: Path) -> dict[str, str]:
    return {
        "MODEL_URI": f"gs://{BUCKET}/{prefix}/",
        "MODEL_SHA256": sha256_hex((folder / "manifest.json").read_bytes()),
        "STORAGE_EMULATOR_HOST": gcs.url,
        "NO_GCE_CHECK": "true",
        "MODEL_FETCH_TIMEOUT_SECONDS": "5",
    }


def test_served_from_fake_gcs_server_by_a_real_server(shipped: Package, gcs: FakeGcs) -> None:
    upload(gcs.url, shipped.folder, "custom")
    server = start_server(gcs_env(gcs, "custom", shipped.folder))
    try:
        answer = requests.post(
            server.url, json={"instances": rows(shipped), "probabilities": True}, timeout=60
        )
    finally:
        server.stop()
    assert answer.status_code == 200, answer.text
    np.testing.assert_allclose(answer.json()["probabilities"], expected(shipped), atol=1e-12)


def test_code_changed_in_storage_is_never_imported(
    shipped: Package, gcs: FakeGcs, tmp_path: Path
) -> None:
    folder = Path(shutil.copytree(shipped.folder, tmp_path / "model"))
    marker = tmp_path / "imported"
    evil = f"open({str(marker)!r}, 'w').write('ran')\n" + USER_FEATURES
    (folder / "code" / "user_features.py").write_text(evil)
    upload(gcs.url, folder, "changed")
    env = gcs_env(gcs, "changed", shipped.folder)  # the pinned manifest, the changed code
    server = start_server(env)
    try:
        answer = requests.post(server.url, json={"instances": rows(shipped, 1)}, timeout=60)
        log = server.logs()
    finally:
        server.stop()
    assert answer.status_code == 503
    assert "code/user_features.py holds more than the" in log
    assert not marker.exists()


def test_code_whose_hash_differs_is_refused_before_any_is_importable(
    shipped: Package, tmp_path: Path
) -> None:
    folder = Path(shutil.copytree(shipped.folder, tmp_path / "model"))
    changed = USER_FEATURES.replace("beside", "besid_").encode()  # the same size
    (folder / "code" / "user_features.py").write_bytes(changed)
    manifest = Manifest.parse((folder / "manifest.json").read_bytes())
    assert manifest.code is not None
    with pytest.raises(IntegrityError, match=r"code/user_features\.py sha256 is "):
        read_code(LocalStore(folder, "local folder"), manifest.code)


def test_code_is_importable_only_inside_the_block(tmp_path: Path) -> None:
    name = "only_inside_the_block"
    with importable({f"{name}.py": b"VALUE = 7\n"}) as folder:
        assert str(folder) in sys.path
        module = __import__(name)
    assert module.VALUE == 7
    assert str(folder) not in sys.path
    assert not folder.exists()
    del sys.modules[name]
    with pytest.raises(ModuleNotFoundError):
        __import__(name)


def test_a_package_folder_is_shipped_with_its_files(tmp_path: Path) -> None:
    package = tmp_path / "my_steps"
    (package / "__pycache__").mkdir(parents=True)
    (package / "__init__.py").write_text("from my_steps.scale import Double\n")
    (package / "scale.py").write_text("class Double:\n    pass\n")
    (package / "__pycache__" / "scale.cpython-311.pyc").write_bytes(b"\0")
    code = collect([package])
    assert sorted(code.files) == ["my_steps/__init__.py", "my_steps/scale.py"]
    assert code.modules == ["my_steps"]
    with importable(code.files):
        module = __import__("my_steps")
    assert module.Double.__module__ == "my_steps.scale"
    for loaded in ("my_steps", "my_steps.scale"):
        del sys.modules[loaded]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("json.py", "--code {path}: the function already has a module named 'json'"),
        ("numpy", "--code {path}: the function already has a module named 'numpy'"),
        ("serving.py", "--code {path}: the function already has a module named 'serving'"),
        ("missing.py", "--code {path}: not a .py file or a folder"),
        ("my-steps.py", "--code {path}: 'my-steps' is not a name Python can import"),
    ],
)
def test_code_that_could_not_be_imported_as_given_is_refused(
    tmp_path: Path, name: str, message: str
) -> None:
    path = tmp_path / name
    if name != "missing.py":
        if name.endswith(".py"):
            path.write_text("X = 1\n")
        else:
            path.mkdir()
            (path / "__init__.py").write_text("")
    with pytest.raises(DataError) as refused:
        collect([path])
    assert str(refused.value).startswith(message.format(path=path))


def test_a_module_given_twice_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "user_steps.py").write_text("")
    (tmp_path / "user_steps.py").write_text("")
    with pytest.raises(DataError, match="a module named 'user_steps' is given twice"):
        collect([tmp_path / "user_steps.py", tmp_path / "a" / "user_steps.py"])


def gcloud_upload_set(folder: Path, config: Path) -> list[str]:
    listed = subprocess.run(
        ["gcloud", "meta", "list-files-for-upload", str(folder)],
        env=offline_gcloud_env(config),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return sorted(line for line in listed.stdout.splitlines() if line)


@pytest.mark.skipif(shutil.which("gcloud") is None, reason="the gcloud CLI is not installed")
def test_the_upload_set_is_what_gcloud_uploads(tmp_path: Path) -> None:
    assert isolation.uploaded_files(REPO) == gcloud_upload_set(REPO, tmp_path / "config")
    repo = function_folder(tmp_path / "repo", let_in="!/user_features.py")
    assert "user_features.py" in isolation.uploaded_files(repo)
    assert isolation.uploaded_files(repo) == gcloud_upload_set(repo, tmp_path / "config")


def function_folder(folder: Path, let_in: str) -> Path:
    """The function's files, a user module beside them, and a .gcloudignore with `let_in`."""
    folder.mkdir(parents=True)
    for name in ("main.py", "requirements.txt"):
        shutil.copy2(REPO / name, folder / name)
    shutil.copytree(
        REPO / "serving", folder / "serving", ignore=shutil.ignore_patterns("__pycache__")
    )
    (folder / "user_features.py").write_text(USER_FEATURES)
    (folder / "tests").mkdir()
    (folder / "tests" / "t.py").write_text("")
    ignore = (REPO / ".gcloudignore").read_text()
    (folder / ".gcloudignore").write_text(ignore.replace("!/main.py", f"!/main.py\n{let_in}"))
    return folder


def test_the_load_check_honours_gcloudignore(
    tmp_path: Path, shipped: Package, monkeypatch: pytest.MonkeyPatch
) -> None:
    artifact = (shipped.folder / "model.joblib").read_bytes()
    code = {"user_features.py": USER_FEATURES.encode()}
    assert isolation.cloud_load_problem(artifact, code) is None
    monkeypatch.setattr(isolation, "REPO", function_folder(tmp_path / "in", "!/user_features.py"))
    assert isolation.cloud_load_problem(artifact) is None
    monkeypatch.setattr(isolation, "REPO", function_folder(tmp_path / "out", ""))
    problem = isolation.cloud_load_problem(artifact)
    assert problem is not None
    assert "needs the module 'user_features'" in problem
    assert "--code user_features.py" in problem


def test_the_onnx_runtime_never_reads_the_code(tmp_path: Path, make_client: MakeClient) -> None:
    """A model with both artifacts and code: the ONNX path serves without fetching code/."""
    folder = tmp_path / "model"
    script_dir = tmp_path / "fit"
    script_dir.mkdir()
    (script_dir / "helpers.py").write_text("def unused():\n    return 1\n")
    schema_packages.package(
        script_dir,
        """
        import joblib
        from sklearn.datasets import load_iris
        from sklearn.linear_model import LogisticRegression
        data = load_iris(as_frame=True)
        model = LogisticRegression(max_iter=500).fit(data.data.to_numpy(), data.target)
        joblib.dump(model, "model.joblib")
        """,
        _iris_csv(script_dir),
        "target",
        "--code",
        str(script_dir / "helpers.py"),
    )
    shutil.copytree(script_dir / "out", folder)
    assert (folder / "model.onnx").exists()
    (folder / "code" / "helpers.py").unlink()  # the sklearn runtime would refuse to load now
    client = make_client(MODEL_URI=str(folder), MODEL_RUNTIME="auto")
    reply = client.post("/", json={"features": [5.1, 3.5, 1.4, 0.2]})
    assert reply.status_code == 200, reply.get_json()
    sklearn = make_client(MODEL_URI=str(folder), MODEL_RUNTIME="sklearn")
    assert sklearn.post("/", json={"features": [5.1, 3.5, 1.4, 0.2]}).status_code == 503


def _iris_csv(folder: Path) -> Path:
    from sklearn.datasets import load_iris

    path = folder / "iris.csv"
    load_iris(as_frame=True).frame.to_csv(path, index=False)
    return path
