"""The request formats' parsers, pure: CSV, OIP v2 tensors (JSON and binary), the base URL's
shape dispatch; then format details through the app (a CSV byte-order mark, a typo, a KServe
client naming the model). Every format with real client libraries on a real server:
tests/serving/protocols/test_request_format_clients.py."""

from __future__ import annotations

import re
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton

from serving.batch import Batch
from serving.errors import InvalidInput, TooManyRows
from serving.protocols.csv_body import read_table
from serving.protocols.detect import format_key
from serving.protocols.oip_binary import (
    HEADER,
    SIZE_KEY,
    binary_outputs,
    binary_reply,
    split_body,
)
from serving.protocols.oip_tensor import batch_from_inputs, binary_output
from serving.schema import Feature
from serving.validate import validate
from tests.support.fixture_types import MakeClient

pytestmark = pytest.mark.in_process

NAMES = ("a", "b", "c")
REPO = Path(__file__).resolve().parents[3]


def checked(batch: Batch, max_rows: int) -> np.ndarray:
    """The batch through the one validation step, against all-number features a, b, c."""
    matrix = validate(batch, [Feature(name) for name in NAMES], max_rows).matrix
    assert matrix is not None
    return matrix


def parse_csv(body: bytes, names: tuple[str, ...], max_rows: int) -> np.ndarray:
    return checked(read_table(body, names), max_rows)


def rows_from_inputs(
    inputs: Any, names: tuple[str, ...], max_rows: int, binary: bytes | None = None
) -> np.ndarray:
    """The inputs through the codec (`binary`: the bytes after the JSON part, where the binary
    extension is spoken) and the validation step."""
    return checked(batch_from_inputs(inputs, names, binary), max_rows)


@pytest.mark.parametrize(
    "body",
    [
        b"1,2,3\n4,5,6\n",
        b"a,b,c\n1,2,3\n4,5,6",
        b'"c","a","b"\r\n3,1,2\r\n6,4,5\r\n',
        b"\n1,2,3\n\n4,5,6\n",
    ],
)
def test_csv_with_or_without_header(body: bytes) -> None:
    assert parse_csv(body, NAMES, 10).tolist() == [[1, 2, 3], [4, 5, 6]]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"1,2\n", "expected 3 features, got 2"),
        (b"1,2,3\n4,5\n", r"expected 3 features, got 2 \(row 2\)"),
        (b"a,b,d\n1,2,3\n", "missing feature 'c'"),
        (b"1,2,3\n4,x,6\n", "row 2, feature 'b': expected a number, got text"),
        (b"1,2,nan\n", "row 1, feature 'c': missing, but this model needs a value"),
        (b"1,2,inf\n", "row 1, feature 'c': values must be finite"),
        (b"a,b,c,d\n1,2,3,4\n", "unknown feature 'd'"),
        (b"c,a,b,a\n1,2,3,4\n", "column names repeat"),
        (b"", "no rows"),
        (b"a,b,c\n", "no rows"),
    ],
)
def test_csv_errors_say_what_is_wrong(body: bytes, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        parse_csv(body, NAMES, 10)


def test_csv_too_many_rows() -> None:
    with pytest.raises(TooManyRows):
        parse_csv(b"1,2,3\n" * 3, NAMES, 2)


def tensor(name: str, shape: list[int], datatype: str, data: Any) -> dict[str, Any]:
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


@pytest.mark.parametrize(
    "inputs",
    [
        [tensor("input", [2, 3], "FP64", [1, 2, 3, 4, 5, 6])],
        [tensor("x", [2, 3], "FP64", [[1, 2, 3], [4, 5, 6]])],
        [tensor("x", [2, 3], "INT32", [1, 2, 3, 4, 5, 6])],
        [tensor("x", [2, 3], "BYTES", ["1", "2", "3", "4", "5", "6"])],
        [
            tensor("c", [2], "FP64", [3, 6]),
            tensor("a", [2], "FP32", [1, 4]),
            tensor("b", [2, 1], "INT64", [2, 5]),
        ],
    ],
)
def test_oip_inputs_become_rows(inputs: list[dict[str, Any]]) -> None:
    assert rows_from_inputs(inputs, NAMES, 10).tolist() == [[1, 2, 3], [4, 5, 6]]


def test_oip_bool_and_fp32_values() -> None:
    rows = rows_from_inputs([tensor("x", [1, 3], "BOOL", [True, False, True])], NAMES, 10)
    fp32 = rows_from_inputs([tensor("x", [1, 3], "FP32", [0.1, 0.2, 0.3])], NAMES, 10)
    assert rows.tolist() == [[1, 0, 1]]
    assert fp32.tolist() == np.float32([[0.1, 0.2, 0.3]]).astype(np.float64).tolist()


@pytest.mark.parametrize(
    ("inputs", "fragment"),
    [
        ([tensor("x", [2, 3], "FP64", [1, 2, 3])], "holds 6 values, data has 3"),
        ([tensor("x", [1, 2], "FP64", [1, 2])], r"expected \[-1, 3\]"),
        ([tensor("x", [1, 3], "INT8", [1, 2, 300])], "out of range for INT8"),
        ([tensor("x", [1, 3], "INT64", [1.5, 2, 3])], "does not match datatype INT64"),
        (
            [tensor("x", [1, 3], "BYTES", ["a", "b", "c"])],
            "feature 'a': expected a number, got text",
        ),
        ([tensor("x", [1, 3], "COMPLEX", [1, 2, 3])], "accepted: FP16"),
        (
            [tensor("a", [1], "FP64", [1]), tensor("b", [1], "FP64", [2])],
            "missing feature 'c'",
        ),
        ([{**tensor("x", [1, 3], "FP64", []), "parameters": {"binary_data_size": 24}}], "binary"),
        ([{**tensor("x", [1, 3], "FP64", [1, 2, 3]), "parameters": True}], "must be an object"),
        ([{**tensor("x", [1, 3], "FP64", [1, 2, 3]), "parameters": None}], "must be an object"),
        ([[1, 2, 3]], "list of tensors"),
    ],
)
def test_oip_input_errors(inputs: list[Any], fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        rows_from_inputs(inputs, NAMES, 10)


def binary(name: str, shape: list[int], datatype: str, size: int) -> dict[str, Any]:
    """An input whose data follows the JSON part as `size` raw bytes."""
    return {"name": name, "shape": shape, "datatype": datatype, "parameters": {SIZE_KEY: size}}


def strings(*values: str) -> bytes:
    """BYTES elements as the extension lays them out: 4-byte little-endian length, bytes."""
    return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)


@pytest.mark.parametrize(
    ("inputs", "data"),
    [
        ([binary("x", [2, 3], "FP64", 48)], np.arange(1, 7, dtype="<f8").tobytes()),
        ([binary("x", [2, 3], "FP32", 24)], np.arange(1, 7, dtype="<f4").tobytes()),
        ([binary("x", [2, 3], "FP16", 12)], np.arange(1, 7, dtype="<f2").tobytes()),
        ([binary("x", [2, 3], "INT64", 48)], np.arange(1, 7, dtype="<i8").tobytes()),
        ([binary("x", [2, 3], "UINT8", 6)], bytes(range(1, 7))),
        ([binary("x", [2, 3], "BYTES", 30)], strings("1", "2", "3", "4", "5", "6")),
        ([binary("x", [2, 3], "BYTES", 35)], strings("1", "2.0", "3", "4.00", "5", "6")),
        (
            [
                binary("c", [2], "FP64", 16),
                tensor("a", [2], "FP64", [1, 4]),
                binary("b", [2], "INT32", 8),
            ],
            np.array([3, 6], "<f8").tobytes() + np.array([2, 5], "<i4").tobytes(),
        ),
    ],
)
def test_oip_binary_inputs_become_rows(inputs: list[dict[str, Any]], data: bytes) -> None:
    assert rows_from_inputs(inputs, NAMES, 10, data).tolist() == [[1, 2, 3], [4, 5, 6]]


def test_oip_binary_bool_input() -> None:
    rows = rows_from_inputs([binary("x", [1, 3], "BOOL", 3)], NAMES, 10, b"\x01\x00\x01")
    assert rows.tolist() == [[1, 0, 1]]


@pytest.mark.parametrize(
    ("inputs", "data", "message"),
    [
        (
            [binary("x", [1, 3], "FP64", 24)],
            b"\0" * 16,
            "input 'x': binary_data_size is 24, but only 16 binary bytes remain (is "
            "Inference-Header-Content-Length set to the JSON part's length?)",
        ),
        (
            [binary("x", [1, 3], "FP64", 24)],
            b"\0" * 32,
            "the body has 32 binary bytes after the JSON part, but the inputs' "
            "binary_data_size add up to 24",
        ),
        (
            [tensor("x", [1, 3], "FP64", [1, 2, 3])],
            b"\0" * 8,
            "the body has 8 binary bytes after the JSON part, but the inputs' "
            "binary_data_size add up to 0",
        ),
        (
            [binary("x", [1, 3], "FP64", 16)],
            b"\0" * 16,
            "input 'x': shape [1, 3] holds 3 values, the binary data has 2",
        ),
        (
            [binary("x", [1, 3], "FP32", 10)],
            b"\0" * 10,
            "input 'x': 10 bytes is not a whole number of FP32 values",
        ),
        ([binary("x", [1, 3], "BOOL", 3)], b"\x01\x02\x00", "input 'x': BOOL bytes must be 0 or 1"),
        (
            [binary("x", [1, 3], "BYTES", 6)],
            strings("1") + b"\x05\0",
            "input 'x': BYTES data ends inside an element's length",
        ),
        (
            [binary("x", [1, 3], "BYTES", 9)],
            strings("1") + b"\x05\0\0\0",
            "input 'x': BYTES data ends inside an element",
        ),
        (
            [binary("x", [1, 3], "BYTES", 10)],
            strings("1", "\u00e9") + b"\xff",
            "input 'x': BYTES data ends inside an element",
        ),
        (
            [binary("x", [1, 1], "BYTES", 5)],
            b"\x01\0\0\0\xff",
            "input 'x': BYTES elements must be UTF-8 text",
        ),
        (
            [binary("x", [1, 3], "BYTES", 5)],
            strings("1"),
            "input 'x': shape [1, 3] holds 3 values, the binary data has 1",
        ),
        (
            [binary("x", [1, 3], "COMPLEX", 3)],
            b"abc",
            "input 'x': datatype 'COMPLEX'; accepted: FP16, FP32, FP64, INT8, INT16, INT32, "
            "INT64, UINT8, UINT16, UINT32, UINT64, BOOL, BYTES",
        ),
        (
            [binary("x", [1, -3], "FP64", 0)],
            b"",
            "input 'x': 'shape' must be a list of non-negative integers",
        ),
        (
            [binary("x", [1, 3], "FP64", -1)],
            b"",
            "input 'x': binary_data_size must be a non-negative integer",
        ),
        (
            [{**binary("x", [1, 3], "FP64", 24), "data": [1, 2, 3]}],
            b"\0" * 24,
            "input 'x': give either 'data' or binary_data_size, not both",
        ),
    ],
)
def test_oip_binary_input_errors(inputs: list[Any], data: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=f"^{re.escape(message)}$"):
        rows_from_inputs(inputs, NAMES, 10, data)


@pytest.mark.parametrize(
    "values",
    [
        np.array([0.25, -1e300, 3.0]),
        np.array([[1, -2], [3, 2**40]], dtype=np.int64),
        np.array(["setosa", "versicolor", "virginica", "é"], dtype=object),
        np.array([True, False]),
    ],
    ids=["FP64", "INT64", "BYTES", "BOOL"],
)
def test_binary_outputs_read_back_by_tritonclient(values: np.ndarray) -> None:
    """The answer's layout, parsed by tritonclient's own InferResult."""
    tensor, data = binary_output("out", values)
    reply = binary_reply({"outputs": [tensor]}, [data], {})
    assert reply.raw is not None
    result = triton.InferResult.from_response_body(
        reply.raw, header_length=int(reply.headers[HEADER])
    )
    decoded = result.as_numpy("out")
    if values.dtype == object:
        decoded = np.array([v.decode() for v in decoded.ravel()], dtype=object)
    assert decoded.tolist() == values.tolist()
    assert reply.media_type == "application/octet-stream"


@pytest.mark.parametrize(
    ("body", "binary"),
    [
        ({"outputs": [{"name": "predict"}]}, set()),
        ({"outputs": [{"name": "predict", "parameters": {"binary_data": True}}]}, {"predict"}),
        ({"parameters": {"binary_data_output": True}}, {"predict", "predict_proba"}),
        (
            {
                "outputs": [{"name": "predict", "parameters": {"binary_data": False}}],
                "parameters": {"binary_data_output": True},
            },
            {"predict_proba"},
        ),
    ],
)
def test_binary_outputs_per_output_then_per_request(body: dict[str, Any], binary: set[str]) -> None:
    assert binary_outputs(body, ["predict", "predict_proba"]) == binary


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"parameters": {"binary_data_output": [None]}}, "'binary_data_output' must be true or"),
        ({"outputs": [{"name": "predict", "parameters": {"binary_data": 1}}]}, "'binary_data'"),
        ({"outputs": [{"name": "predict", "parameters": True}]}, "'parameters' must be an object"),
    ],
)
def test_binary_flags_must_be_booleans(body: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        binary_outputs(body, ["predict"])


@pytest.mark.parametrize(
    ("body", "headers", "parts"),
    [
        (b'{"a": 1}', {}, (b'{"a": 1}', b"")),
        (b'{"a": 1}xyz', {HEADER: "8"}, (b'{"a": 1}', b"xyz")),
        (b'{"a": 1}', {HEADER: "8"}, (b'{"a": 1}', b"")),
    ],
)
def test_split_body_at_the_declared_json_length(
    body: bytes, headers: dict[str, str], parts: tuple[bytes, bytes]
) -> None:
    assert split_body(body, headers) == parts


@pytest.mark.parametrize("declared", ["0", "9", "-1", "x", "", "\u00b2", "1 "])
def test_split_body_refuses_a_length_the_body_cannot_have(declared: str) -> None:
    with pytest.raises(InvalidInput, match=f"{HEADER} must be the JSON part's length"):
        split_body(b'{"a": 1}', {HEADER: declared})


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"features": [1]}, "features"),
        ({"instances": [[1]], "parameters": {}}, "instances"),
        ({"inputs": [[1]], "params": {}}, "inputs"),
        ({"dataframe_split": {}}, "dataframe_split"),
        ({"dataframe_records": []}, "dataframe_records"),
    ],
)
def test_format_key_picks_the_one_format(body: dict[str, Any], key: str) -> None:
    assert format_key(body) == key


def test_request_path_never_imports_pandas() -> None:
    """Every format, in a fresh interpreter: no request imports pandas. (scikit-learn itself
    imports pandas at load when it is installed, as in this dev venv; ONNX never does.)"""
    script = """
import json, sys
from serving.endpoint import Endpoint
from serving.settings import Settings
endpoint = Endpoint(Settings.from_env({"MODEL_RUNTIME": sys.argv[1]}))
names = endpoint.model.get().manifest.feature_names
before = "pandas" in sys.modules
row = [1.0] * len(names)
bodies = [
    {"features": row}, {"instances": [row], "parameters": {"predict_method": "predict_proba"}},
    {"inputs": [row]},
    {"inputs": [{"name": "x", "shape": [1, 30], "datatype": "FP64", "data": row}]},
    {"dataframe_split": {"columns": list(names), "data": [row]}},
    {"dataframe_records": [dict(zip(names, row))]},
]
for body in bodies:
    assert endpoint.answer("POST", "/", "application/json", json.dumps(body).encode()).status == 200
csv = ",".join(names).encode() + b"\\n" + ",".join(map(str, row)).encode()
assert endpoint.answer("POST", "/invocations", "text/csv", csv).status == 200
print(before, "pandas" in sys.modules)
"""
    for runtime in ("onnx", "sklearn"):
        done = subprocess.run(
            [sys.executable, "-c", script, runtime],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        before, after = done.stdout.split()
        assert after == before, done.stderr
        if runtime == "onnx":
            assert after == "False"


# --- through the app --------------------------------------------------------------------------


def test_csv_with_a_byte_order_mark(make_client: MakeClient, classifier_dir: Path) -> None:
    client = make_client(MODEL_URI=str(classifier_dir))
    names = client.get("/").get_json()["feature_names"]
    body = ",".join(f'"{n}"' for n in names) + "\n" + ",".join(["1.0"] * 30) + "\n"
    with_mark = client.post("/", data=b"\xef\xbb\xbf" + body.encode(), content_type="text/csv")
    plain = client.post("/", data=body.encode(), content_type="text/csv")
    assert with_mark.status_code == 200, with_mark.get_json()
    assert with_mark.get_json() == plain.get_json()


def test_csv_typo_in_the_only_row_names_the_cell(client: Any) -> None:
    answer = client.post("/", data="1," * 29 + "x1\n", content_type="text/csv").get_json()
    assert (
        answer["error"] == "row 1, feature 'worst fractal dimension': expected a number, got text"
    )


def test_kserve_client_body_naming_the_model(client: Any) -> None:
    """KServe's InferenceRESTClient puts model_name (and may put model_version) in the body."""
    name = client.get("/").get_json()["name"]
    tensor = {"name": "input-0", "shape": [1, 30], "datatype": "FP64", "data": [1.0] * 30}
    good = {"model_name": name, "inputs": [tensor]}
    assert client.post(f"/v2/models/{name}/infer", json=good).status_code == 200
    wrong = client.post(f"/v2/models/{name}/infer", json={**good, "model_name": "other"})
    assert wrong.status_code == 404
    assert "model 'other' is not served here" in wrong.get_json()["error"]


def test_kserve_v1_refuses_csv(client: Any) -> None:
    """CSV is the base URL's and /invocations' format, not KServe's."""
    name = client.get("/").get_json()["name"]
    answer = client.post(
        f"/v1/models/{name}:predict", data="1," * 29 + "1\n", content_type="text/csv"
    )
    assert answer.status_code == 415
    assert answer.get_json()["code"] == "unsupported_media_type"


@pytest.mark.parametrize("row", [[1.0, 2.0], [1.0, 2.0, 3.0, 4.0], "123"])
def test_named_columns_need_one_value_per_column_in_every_row(row: Any) -> None:
    batch = Batch(rows=[[1.0, 2.0, 3.0], row], names=["c", "a", "b"])
    with pytest.raises(InvalidInput, match=r"^row 2: expected 3 values, one per named column$"):
        checked(batch, 10)


def test_bigquery_context_without_output_or_naming_label_answers_labels(
    client: Any, make_client: MakeClient, regressor_dir: Path
) -> None:
    calls = [[1.0] * 30, [2.0] * 30]
    plain = client.post("/", json={"calls": calls}).get_json()
    for context in ({}, {"output": "label"}):
        answer = client.post("/", json={"calls": calls, "userDefinedContext": context})
        assert answer.get_json() == plain
    regressor = make_client(MODEL_URI=str(regressor_dir))
    width = regressor.get("/").get_json()["n_features"]
    values = regressor.post(
        "/", json={"calls": [[0.01] * width], "userDefinedContext": {"output": "label"}}
    )
    assert values.status_code == 200
    assert isinstance(values.get_json()["replies"][0], float)


def test_bigquery_bad_context_tells_the_sql_user_what_it_may_hold(client: Any) -> None:
    body = {"calls": [[1.0] * 30], "userDefinedContext": {"outputs": "label"}}
    answer = client.post("/", json=body).get_json()
    assert answer["errorMessage"] == (
        'userDefinedContext may hold "output" (label, probabilities, probability or '
        'explanations) and "class" (with probability)'
    )


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (
            {"a": [1.0], "b": 2.0, "c": [3.0]},
            "each feature's value must be a list, one value per row",
        ),
        (
            {"a": [1.0], "b": [2.0, 2.5], "c": [3.0]},
            "every feature's list must have the same length",
        ),
    ],
)
def test_columns_need_a_list_per_feature_of_one_length(
    columns: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=f"^{re.escape(message)}$"):
        checked(Batch(columns=columns), 10)


@pytest.mark.parametrize(("offset", "shared"), [(8, True), (3, False)])
def test_binary_fp64_rows_are_read_in_place_where_aligned(offset: int, shared: bool) -> None:
    """The body's bytes are the rows (no copy), unless the JSON part's length misaligns them."""
    body = b"{" * offset + np.arange(6, dtype="<f8").tobytes()
    view = memoryview(body)[offset:]
    batch = batch_from_inputs([binary("x", [2, 3], "FP64", 48)], NAMES, view)
    assert isinstance(batch.rows, np.ndarray)
    assert batch.rows.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert np.shares_memory(batch.rows, np.frombuffer(body, dtype=np.uint8)) is shared
    assert checked(batch, 10).flags.aligned
