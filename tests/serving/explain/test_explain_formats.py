"""Explanations in every request spelling, over a real functions-framework server, on both
runtimes: the function's own JSON (`"explain": true`), CSV (`?explain=true`), OIP v2 (an
`explanations` output, JSON and binary), BigQuery (`userDefinedContext.output`) and
`score.py --explain`.

The three models of issue 27's "done when", each packaged by `train.py --from-model` from the
penguins DataFrame: a RandomForestClassifier pipeline, a bare HistGradientBoosting regressor on
NaN and category columns, a one-hot LogisticRegression pipeline. Every spelling must give the
same numbers, which add up to the model's raw output (asked of the same server) on every row
within 1e-9 and equal shap's (the HistGradientBoosting regressor's category splits: brute force).
A model without explanations is refused with 400 `no_explanations` and its reason in each.
"""

from __future__ import annotations

import contextlib
import io
import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
import requests

from serving.explain.treeshap import Reading
from serving.manifest import MANIFEST_NAME, Manifest
from serving.runtimes.sklearn_runtime import SklearnRuntime
from tests.support.explain_cases import (
    SERVED,
    TOLERANCE,
    Packaged,
    brute_force,
    forest_of,
    package_served,
    penguins_table,
    shap_values,
    worst,
)
from tests.support.penguins_data import records
from tests.support.servers import REPO, Server, start_server
from training.export import sample_table

RUNTIMES = ("onnx", "sklearn")
ROWS = [0, 3, 8, 40, 150, 200, 280, 300]  # row 3 has no numbers, 8 no sex


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {name: package_served(name, tmp_path_factory.mktemp(name)) for name in SERVED}


@pytest.fixture(scope="module", params=[(m, r) for m in SERVED for r in RUNTIMES], ids=str)
def served(request: pytest.FixtureRequest, folders: dict[str, Path]) -> Iterator[Served]:
    name, runtime = request.param
    server = start_server({"MODEL_URI": str(folders[name]), "MODEL_RUNTIME": runtime})
    try:
        yield Served(name, runtime, server, folders[name])
    finally:
        server.stop()


class Served:
    """One packaged model behind a real server, and what it takes to check its answers."""

    def __init__(self, name: str, runtime: str, server: Server, folder: Path) -> None:
        self.name, self.runtime, self.server, self.folder = name, runtime, server, folder
        self.url = server.url
        self.metadata = requests.get(self.url + "/", timeout=10).json()
        frame, _ = penguins_table("regression" if "regressor" in name else "multiclass")
        self.frame = frame.iloc[ROWS].reset_index(drop=True)
        self.rows = records(self.frame)
        self.features = self.metadata["feature_names"]
        self.classes = self.metadata["explanations"]["outputs"]

    def post(self, body: Any, path: str = "/", **options: Any) -> requests.Response:
        return requests.post(self.url + path, json=body, timeout=30, **options)

    def own(self) -> dict[str, Any]:
        answer = self.post({"instances": self.rows, "explain": True})
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def as_array(self, explanations: dict[str, Any]) -> np.ndarray:
        """The answer's rows as [rows, features, outputs], and checks its header."""
        assert explanations["method"] in ("tree_path_dependent", "linear")
        rows = explanations["rows"]
        if self.classes and len(self.classes) > 1:
            assert explanations["classes"] == self.classes
            labels = [str(c) for c in self.classes]
            return np.array(
                [[[r["contributions"][k][f] for k in labels] for f in self.features] for r in rows]
            )
        return np.array([[[r["contributions"][f]] for f in self.features] for r in rows])

    def base(self, explanations: dict[str, Any]) -> np.ndarray:
        first = explanations["rows"][0]["base_value"]
        if isinstance(first, dict):
            return np.array([first[str(c)] for c in self.classes])
        return np.array([first])

    def raw_output(self) -> np.ndarray:
        """The model's raw output for the rows, asked of the same server."""
        output = self.metadata["explanations"]["output"]
        if output == "probability":
            body = {"instances": self.rows, "probabilities": True}
            return np.array(self.post(body).json()["probabilities"])
        if output == "margin":
            body = {"instances": self.rows, "parameters": {"predict_method": "decision_function"}}
            values = np.array(self.post(body).json()["predictions"])
        else:
            values = np.array(self.post({"instances": self.rows}).json()["predictions"])
        return values.reshape(len(self.rows), -1)


def test_own_format_adds_up_to_the_raw_output_and_equals_the_oracle(served: Served) -> None:
    answer = served.own()
    plain = served.post({"instances": served.rows}).json()

    contributions = served.as_array(answer["explanations"])
    base = served.base(answer["explanations"])

    assert answer["predictions"] == plain["predictions"]
    assert answer["explanations"]["output"] == served.metadata["explanations"]["output"]
    assert worst(contributions.sum(axis=1) + base, served.raw_output()) <= TOLERANCE
    assert worst(contributions, oracle(served)) <= TOLERANCE


def oracle(served: Served) -> np.ndarray:
    """shap's values for the rows (brute force for category splits), from the model itself."""
    model = joblib.load(served.folder / "model.joblib")
    manifest = Manifest.parse((served.folder / MANIFEST_NAME).read_bytes())
    table = sample_table(served.frame, manifest)
    rows = SklearnRuntime(model, (), "", manifest).estimator_input(table)[: len(served.rows)]
    if served.name == "hist_gradient_boosting_regressor":
        forest, columns = forest_of((served.folder / "explanations.npz").read_bytes())
        by_column = np.array([brute_force(forest, Reading(), row, 1) for row in rows])
        by_feature = np.zeros((len(rows), len(served.features), 1))
        by_feature[:, columns] = by_column
        return by_feature
    frame, target = penguins_table("multiclass")
    values, _ = shap_values(Packaged(model, frame, target, "multiclass", {}, {}), rows)
    return values


def test_one_row_gets_one_explanation(served: Served) -> None:
    answer = served.post({"features": served.rows[0], "explain": True})

    single = answer.json()["explanation"]
    many = served.own()["explanations"]

    assert answer.status_code == 200
    assert {k: v for k, v in single.items() if k not in ("base_value", "contributions")} == {
        k: v for k, v in many.items() if k != "rows"
    }
    assert single["contributions"] == many["rows"][0]["contributions"]
    assert single["base_value"] == many["rows"][0]["base_value"]


def test_csv_explain_true_answers_the_same(served: Served) -> None:
    body = served.frame.to_csv(index=False)
    answer = requests.post(
        served.url + "/",
        data=body,
        headers={"Content-Type": "text/csv"},
        params={"explain": "true"},
        timeout=30,
    )

    assert answer.status_code == 200, answer.text
    expected = served.own()["explanations"]
    got = answer.json()["explanations"]
    assert worst(served.as_array(got), served.as_array(expected)) <= TOLERANCE
    assert "explanations" not in served.post({"instances": served.rows}).json()


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_oip_v2_explanations_output_is_an_fp64_tensor(served: Served, binary: bool) -> None:
    name = served.metadata["name"]
    # One BYTES tensor per feature: numbers spelled as text, null where a value is missing (in
    # OIP JSON a string is never missing: serving/cells.py's "json" reading).
    inputs = [
        {
            "name": feature,
            "shape": [len(served.rows)],
            "datatype": "BYTES",
            "data": [None if row[feature] is None else str(row[feature]) for row in served.rows],
        }
        for feature in served.features
    ]
    outputs = [{"name": "predict"}, {"name": "explanations"}]
    body = {"inputs": inputs, "outputs": outputs}
    if binary:
        body["parameters"] = {"binary_data_output": True}
    raw = json.dumps(body).encode()

    answer = requests.post(
        f"{served.url}/v2/models/{name}/infer",
        data=raw,
        headers={
            "Content-Type": "application/json",
            "Inference-Header-Content-Length": str(len(raw)),
        },
        timeout=30,
    )

    assert answer.status_code == 200, answer.text
    tensor, values = explanations_tensor(answer)
    width = len(served.features) + 1
    per_class = len(served.classes or ()) > 1
    assert tensor["datatype"] == "FP64"
    assert tensor["shape"] == (
        [len(served.rows), len(served.classes), width] if per_class else [len(served.rows), width]
    )
    assert tensor["parameters"]["columns"] == [*served.features, "base_value"]
    assert tensor["parameters"]["output"] == served.metadata["explanations"]["output"]
    values = values.reshape(tensor["shape"])
    values = values if per_class else values[:, None, :]
    own = served.own()["explanations"]
    assert worst(values[:, :, :-1].transpose(0, 2, 1), served.as_array(own)) <= TOLERANCE
    assert worst(values[0, :, -1], served.base(own)) <= TOLERANCE
    metadata = requests.get(f"{served.url}/v2/models/{name}", timeout=10).json()
    listed = [o for o in metadata["outputs"] if o["name"] == "explanations"]
    assert listed == [
        {"name": "explanations", "datatype": "FP64", "shape": [-1, *tensor["shape"][1:]]}
    ]


def explanations_tensor(answer: requests.Response) -> tuple[dict[str, Any], np.ndarray]:
    """The `explanations` output and its values, from JSON data or the binary part."""
    header = answer.headers.get("Inference-Header-Content-Length")
    if header is None:
        document = answer.json()
        tensor = next(o for o in document["outputs"] if o["name"] == "explanations")
        return tensor, np.array(tensor["data"], dtype=np.float64)
    length = int(header)
    document = json.loads(answer.content[:length])
    offset = length
    for output in document["outputs"]:
        size = output["parameters"]["binary_data_size"]
        if output["name"] == "explanations":
            data = answer.content[offset : offset + size]
            return output, np.array(struct.unpack(f"<{size // 8}d", data))
        offset += size
    raise AssertionError("no explanations output")


def test_bigquery_replies_a_json_string_per_row(served: Served) -> None:
    calls = [[row[f] for f in served.features] for row in served.rows]
    body = {"calls": calls, "userDefinedContext": {"output": "explanations"}}

    answer = served.post(body)

    assert answer.status_code == 200, answer.text
    replies = answer.json()["replies"]
    assert all(isinstance(reply, str) for reply in replies)
    parsed = [json.loads(reply) for reply in replies]
    own = served.own()["explanations"]
    header = {k: v for k, v in own.items() if k != "rows"}
    assert [{k: r[k] for k in header} for r in parsed] == [header] * len(parsed)
    as_rows = {
        **header,
        "rows": [{k: r[k] for k in ("base_value", "contributions")} for r in parsed],
    }
    assert worst(served.as_array(as_rows), served.as_array(own)) <= TOLERANCE


def test_score_py_explain_writes_a_column_per_feature(served: Served, tmp_path: Path) -> None:
    import score

    source = tmp_path / "rows.csv"
    served.frame.to_csv(source, index=False)

    status = score.main([str(source), "--url", served.url, "--out", str(tmp_path / "out.csv")])
    explained = score.main(
        [str(source), "--url", served.url, "--explain", "--out", str(tmp_path / "explained.csv")]
    )

    assert (status, explained) == (0, 0)
    plain = pd.read_csv(tmp_path / "out.csv")
    written = pd.read_csv(tmp_path / "explained.csv")
    own = served.own()["explanations"]
    contributions, base = served.as_array(own), served.base(own)
    labels = (
        [f"_{c}" for c in served.classes] if served.classes and len(served.classes) > 1 else [""]
    )
    expected_columns = [
        name
        for label in labels
        for name in (*(f"contribution{label}_{f}" for f in served.features), f"base_value{label}")
    ]
    assert list(written.columns) == [*plain.columns, *expected_columns]
    assert written["prediction"].tolist() == plain["prediction"].tolist()
    for k, label in enumerate(labels):
        got = written[[f"contribution{label}_{f}" for f in served.features]].to_numpy()
        assert worst(got, contributions[:, :, k]) <= TOLERANCE
        assert (written[f"base_value{label}"] == base[k]).all()


# --- a model without explanations ------------------------------------------------------------


@pytest.fixture(scope="module")
def unexplained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A KNN pipeline: no exact method, so its folder says why."""
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import train

    folder = tmp_path_factory.mktemp("knn")
    frame, target = penguins_table("multiclass")
    numbers = ["bill_depth_mm", "flipper_length_mm"]
    frame = frame[numbers].dropna()
    model = make_pipeline(StandardScaler(), KNeighborsClassifier()).fit(frame, target[frame.index])
    joblib.dump(model, folder / "model.joblib")
    frame.assign(target=target[frame.index]).to_csv(folder / "sample.csv", index=False)
    arguments = ["--from-model", str(folder / "model.joblib"), "--data", str(folder / "sample.csv")]
    with contextlib.redirect_stdout(io.StringIO()):
        assert train.main([*arguments, "--target", "target", "--out", str(folder / "m")]) == 0
    server = start_server({"MODEL_URI": str(folder / "m")})
    try:
        yield server
    finally:
        server.stop()


REASON = (
    "this model has no explanations: KNeighborsClassifier has no exact explanation method here "
    "(trees and linear models have one)"
)


def test_a_model_without_explanations_answers_400_no_explanations_in_every_spelling(
    unexplained: Server, tmp_path: Path
) -> None:
    url = unexplained.url
    name = requests.get(url + "/", timeout=10).json()["name"]
    row = {"bill_depth_mm": 18.0, "flipper_length_mm": 190.0}
    own = requests.post(url + "/", json={"instances": [row], "explain": True}, timeout=10)
    csv = requests.post(
        url + "/", data="bill_depth_mm,flipper_length_mm\n18,190\n",
        headers={"Content-Type": "text/csv"}, params={"explain": "true"}, timeout=10,
    )  # fmt: skip
    oip = requests.post(
        f"{url}/v2/models/{name}/infer",
        json={
            "inputs": [{"name": "input", "shape": [1, 2], "datatype": "FP64", "data": [18, 190]}],
            "outputs": [{"name": "explanations"}],
        },
        timeout=10,
    )
    bigquery = requests.post(
        url + "/",
        json={"calls": [[18, 190]], "userDefinedContext": {"output": "explanations"}},
        timeout=10,
    )

    for answer in (own, csv, oip, bigquery):
        assert answer.status_code == 400, answer.text
        assert answer.json()["code"] == "no_explanations"
        assert answer.json()["error"] == REASON
    assert bigquery.json()["errorMessage"] == REASON
    metadata = requests.get(url + "/", timeout=10).json()
    assert metadata["explanations"]["available"] is False
    oip_outputs = requests.get(f"{url}/v2/models/{name}", timeout=10).json()["outputs"]
    assert "explanations" not in [o["name"] for o in oip_outputs]

    import score

    source = tmp_path / "rows.csv"
    source.write_text("bill_depth_mm,flipper_length_mm\n18,190\n")
    captured = io.StringIO()
    with contextlib.redirect_stderr(captured):
        status = score.main([str(source), "--url", url, "--explain"])
    assert status == 1
    assert "--explain: the model has no explanations: KNeighborsClassifier" in captured.getvalue()


# --- what a cold start loads -----------------------------------------------------------------


def test_explanations_load_only_when_asked_for_and_shap_never(folders: dict[str, Path]) -> None:
    server = start_server(
        {"MODEL_URI": str(folders["random_forest_classifier"])},
        source=REPO / "tests" / "support" / "introspect_entry.py",
    )
    try:
        frame, _ = penguins_table("multiclass")
        rows = records(frame.iloc[:3])
        assert requests.post(server.url + "/", json={"instances": rows}, timeout=10).ok
        requests.get(server.url + "/", timeout=10)
        before = requests.get(server.url + "/__test__/modules", timeout=10).json()
        explained = requests.post(
            server.url + "/", json={"instances": rows, "explain": True}, timeout=10
        )
        after = requests.get(server.url + "/__test__/modules", timeout=10).json()
    finally:
        server.stop()

    assert explained.status_code == 200
    assert not [m for m in before if m.startswith("serving.explain")]
    assert {"serving.explain.treeshap", "serving.explain.artifact"} <= set(after)
    for loaded in (before, after):
        assert not [
            m for m in loaded if m.split(".")[0] in ("shap", "numba", "llvmlite", "sklearn")
        ]
