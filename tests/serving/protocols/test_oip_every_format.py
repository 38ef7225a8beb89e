"""OIP v2 in detail: binary outputs and BYTES inputs, the outputs asked for, the request's
fields, each input error, datatype bounds, the binary header and versioned paths, on a real
server and in process (`send`)."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from serving.manifest import MANIFEST_NAME
from tests.support.format_requests import (
    JSON_TYPE,
    NAMES,
    WIDTH,
    Answer,
    Request,
    Send,
    as_json,
    assert_refused,
    oip_binary,
    per_feature,
    probabilities_of,
    rows,
    tensor,
)

pytestmark = pytest.mark.in_process


def split_binary(answer: Answer) -> tuple[dict[str, Any], bytes]:
    length = int(answer.headers["inference-header-content-length"])
    return json.loads(answer.raw[:length]), answer.raw[length:]


@pytest.mark.parametrize(
    "outputs", [None, ["predict"], ["predict_proba"], ["predict_proba", "predict"]]
)
def test_oip_binary_outputs_decode_to_the_json_answer(
    send: Send, model_name: str, outputs: list[str] | None
) -> None:
    path = f"/v2/models/{model_name}/infer"
    body: dict[str, Any] = {"inputs": [tensor(3, WIDTH)], "id": "req-1"}
    if outputs is not None:
        body["outputs"] = [{"name": name} for name in outputs]
    plain = send(as_json(path, body))
    binary = send(as_json(path, {**body, "parameters": {"binary_data_output": True}}))
    assert (binary.status, binary.headers["content-type"]) == (200, "application/octet-stream")
    header, data = split_binary(binary)
    assert {k: header[k] for k in ("model_name", "model_version", "id")} == {
        k: plain.body[k] for k in ("model_name", "model_version", "id")
    }
    offset = 0
    for tensor_json, tensor_bin in zip(plain.body["outputs"], header["outputs"], strict=True):
        size = tensor_bin["parameters"]["binary_data_size"]
        kind = "<f8" if tensor_json["datatype"] == "FP64" else "<i8"
        values = np.frombuffer(data[offset : offset + size], dtype=kind).tolist()
        assert values == tensor_json["data"]
        assert (tensor_bin["name"], tensor_bin["shape"]) == (
            tensor_json["name"],
            tensor_json["shape"],
        )
        offset += size
    assert offset == len(data)


def test_oip_binary_bytes_inputs(send: Send, model_name: str) -> None:
    """BYTES elements: a 4-byte length, then UTF-8; an empty last element is a missing value."""
    path = f"/v2/models/{model_name}/infer"
    inputs = per_feature(2, WIDTH)
    plain = send(as_json(path, {"inputs": inputs}))

    def with_bytes(elements: list[bytes]) -> Request:
        packed = b"".join(struct.pack("<I", len(e)) + e for e in elements)
        first = {k: v for k, v in inputs[0].items() if k != "data"}
        first |= {"datatype": "BYTES", "parameters": {"binary_data_size": len(packed)}}
        json_part = json.dumps({"inputs": [first, *inputs[1:]]}).encode()
        headers = {"Inference-Header-Content-Length": str(len(json_part)), **JSON_TYPE}
        return Request("POST", path, json_part + packed, headers)

    spelled = [repr(v).encode() for v in inputs[0]["data"]]
    assert send(with_bytes(spelled)).body["outputs"] == plain.body["outputs"]
    answer = send(with_bytes([spelled[0], b""]))
    assert_refused(answer, 400, "invalid_input", "row 2, feature 'mean radius': missing")
    cut = with_bytes(spelled)
    broken = Request("POST", path, cut.body[:-2], cut.headers)
    assert send(broken).status == 400


@pytest.mark.parametrize(
    ("outputs", "fragment"),
    [
        (
            [{"name": "scores"}],
            "output 'scores' is not available; this model offers predict, "
            "predict_proba, decision_function",
        ),
        ([{"id": "predict"}], "'outputs' must be a list of {\"name\": ...}"),
        ({"name": "predict"}, "'outputs' must be a list of {\"name\": ...}"),
    ],
)
def test_oip_outputs_asked_for_wrongly_are_400(
    send: Send, model_name: str, outputs: Any, fragment: str
) -> None:
    body = {"inputs": [tensor(1, WIDTH)], "outputs": outputs}
    answer = send(as_json(f"/v2/models/{model_name}/infer", body))
    assert_refused(answer, 400, "invalid_input", fragment)


@pytest.mark.parametrize(
    ("extra", "status", "fragment"),
    [
        ({"id": 3}, 400, "'id' must be a string"),
        ({"parameters": []}, 400, "'parameters' must be an object"),
        ({"model_name": "other"}, 404, "model 'other' is not served here"),
        ({"model_name": 3}, 400, "'model_name' and 'model_version' must be strings"),
        ({"model_version": "0"}, 404, "version '0' of"),
    ],
)
def test_oip_request_fields_are_checked(
    send: Send, model_name: str, extra: dict[str, Any], status: int, fragment: str
) -> None:
    body = {"inputs": [tensor(1, WIDTH)], **extra}
    answer = send(as_json(f"/v2/models/{model_name}/infer", body))
    assert answer.status == status, answer.body
    assert fragment in answer.body["error"]


def test_oip_answer_names_the_model_and_echoes_the_id(
    send: Send, model_name: str, classifier_dir: Path
) -> None:
    version = json.loads((classifier_dir / MANIFEST_NAME).read_bytes())["model_version"]
    body = {"inputs": [tensor(2, WIDTH)], "id": "abc", "model_name": model_name}
    answer = send(as_json(f"/v2/models/{model_name}/infer", body))
    assert answer.status == 200, answer.body
    assert (answer.body["model_name"], answer.body["model_version"]) == (model_name, version)
    assert answer.body["id"] == "abc"
    assert answer.body["outputs"] == [
        {
            "name": "predict",
            "shape": [2],
            "datatype": "INT64",
            "data": [int(np.argmax(p)) for p in probabilities_of(send, 2)],
        }
    ]
    fresh = send(as_json(f"/v2/models/{model_name}/infer", {"inputs": [tensor(1, WIDTH)]}))
    assert len(fresh.body["id"]) == 36


def oip(**changes: Any) -> dict[str, Any]:
    return {"inputs": [{**tensor(1, WIDTH), **changes}]}


def feature_input(name: str, values: list[float], shape: list[int] | None = None) -> Any:
    return {"name": name, "shape": shape or [len(values)], "datatype": "FP64", "data": values}


# OIP v2 tensors: every check of an input, at its boundary where it has one.
OIP_ERRORS = [
    ([1], 'an inference request is a JSON object with "inputs"'),
    ({"inputs": "x"}, '\'inputs\' must be a non-empty list of tensors {"name", "shape"'),
    ({"inputs": []}, "'inputs' must be a non-empty list of tensors"),
    (oip(name=3), "every input needs a string 'name'"),
    (oip(parameters=[]), "input 'input': 'parameters' must be an object"),
    (oip(shape=[1, -30]), "input 'input': 'shape' must be a list of non-negative integers"),
    (oip(shape=[1.0, 30]), "input 'input': 'shape' must be a list of non-negative integers"),
    (oip(shape="x"), "input 'input': 'shape' must be a list of non-negative integers"),
    (oip(datatype="FP128"), "input 'input': datatype 'FP128'; accepted: FP16, FP32, FP64, INT8"),
    (oip(data=[[1.0], [1.0, 2.0]]), "input 'input': nested data is ragged"),
    (oip(shape=[1, 29]), "input 'input': shape [1, 29] holds 29 values, data has 30"),
    (oip(shape=[2, 15]), "input 'input' has shape [2, 15]; expected [-1, 30] (or one 1-D input"),
    (oip(datatype="INT8", data=[128] * WIDTH), "input 'input': a value is out of range for INT8"),
    (oip(datatype="INT8", data=[-129] * WIDTH), "input 'input': a value is out of range for INT8"),
    (oip(datatype="UINT8", data=[-1] * WIDTH), "input 'input': a value is out of range for UINT8"),
    (
        oip(datatype="INT64", data=[1.5] * WIDTH),
        "input 'input': data does not match datatype INT64",
    ),
    (oip(datatype="BOOL", data=[1] * WIDTH), "input 'input': data does not match datatype BOOL"),
    (oip(datatype="FP64", data=["1"] * WIDTH), "input 'input': data does not match datatype FP64"),
    (oip(shape=[0, WIDTH], data=[]), "no rows: send at least one row"),
    (
        {"inputs": [feature_input("mean radius", [1.0], [1, 1, 1])]},
        "per-feature inputs must all have shape [N] (or [N, 1]) with one N",
    ),
    (
        {"inputs": [feature_input("mean radius", [1.0, 2.0], [1, 2])]},
        "per-feature inputs must all have shape [N] (or [N, 1]) with one N",
    ),
    (
        {"inputs": [feature_input("mean radius", [1.0]), feature_input("mean radius", [1.0])]},
        "input 'mean radius' is unknown or repeated; send one input of shape [-1, 30], or one",
    ),
    (
        {"inputs": [feature_input("zz", [1.0]), feature_input("mean radius", [1.0])]},
        "input 'zz' is unknown or repeated",
    ),
    (
        {
            "inputs": [
                feature_input("mean radius", [1.0, 2.0]),
                feature_input("mean texture", [1.0]),
            ]
        },
        "missing feature 'mean perimeter' (28 missing)",
    ),
]


@pytest.mark.parametrize(("body", "message"), OIP_ERRORS)
def test_oip_input_errors_say_what_was_expected(
    send: Send, model_name: str, body: Any, message: str
) -> None:
    answer = send(as_json(f"/v2/models/{model_name}/infer", body))
    assert_refused(answer, 400, "invalid_input")
    assert answer.body["error"].startswith(message)


@pytest.mark.parametrize(
    ("datatype", "value"),
    [("INT8", 127), ("INT8", -128), ("UINT8", 255), ("UINT8", 0), ("BOOL", True), ("FP32", 1)],
)
def test_oip_values_at_their_datatype_bounds_are_answered(
    send: Send, model_name: str, datatype: str, value: Any
) -> None:
    answer = send(
        as_json(f"/v2/models/{model_name}/infer", oip(datatype=datatype, data=[value] * WIDTH))
    )
    assert answer.status == 200, answer.body


def test_per_feature_inputs_of_shape_n_by_1_are_answered(send: Send, model_name: str) -> None:
    columns = np.asarray(rows(2)).T.tolist()
    inputs = [
        feature_input(name, column, [2, 1]) for name, column in zip(NAMES, columns, strict=True)
    ]
    answer = send(as_json(f"/v2/models/{model_name}/infer", {"inputs": inputs}))
    plain = send(as_json(f"/v2/models/{model_name}/infer", {"inputs": [tensor(2, WIDTH)]}))
    assert answer.body["outputs"] == plain.body["outputs"]


def test_binary_data_without_the_header_says_what_is_missing(send: Send, model_name: str) -> None:
    request = oip_binary(model_name, 1, WIDTH)
    headers = {k: v for k, v in request.headers.items() if k != "Inference-Header-Content-Length"}
    answer = send(Request("POST", request.path, request.body, headers))
    message = assert_refused(answer, 400, "invalid_input")
    assert message.startswith("binary tensor data (binary_data_size) is read only by POST /v2/")
    broken = send(Request("POST", request.path, b"{bad", JSON_TYPE))
    assert_refused(broken, 400, "invalid_json", "body is not valid JSON")


def test_binary_header_without_inputs_is_400(send: Send, model_name: str) -> None:
    json_part = json.dumps({"outputs": []}).encode()
    headers = {"Inference-Header-Content-Length": str(len(json_part)), **JSON_TYPE}
    answer = send(Request("POST", f"/v2/models/{model_name}/infer", json_part + b"\0" * 8, headers))
    message = assert_refused(answer, 400, "invalid_input")
    assert (
        message
        == "Inference-Header-Content-Length is set, but there are no inputs for the binary data"
    )


def test_oip_at_a_versioned_path_checks_the_version(
    send: Send, model_name: str, classifier_dir: Path
) -> None:
    version = json.loads((classifier_dir / MANIFEST_NAME).read_bytes())["model_version"]
    ok = send(as_json(f"/v2/models/{model_name}/versions/{version}/infer", oip()))
    assert ok.status == 200
    wrong = send(as_json(f"/v2/models/{model_name}/versions/0/infer", oip()))
    assert_refused(wrong, 404, "not_found", "version '0' of")


def test_oip_answers_json_outside_infer_even_when_binary_is_asked(send: Send) -> None:
    body = {**oip(), "parameters": {"binary_data_output": True}}
    answer = send(as_json("/", body))
    assert answer.status == 200
    assert answer.body["outputs"][0]["data"] == [int(np.argmax(probabilities_of(send, 1)[0]))]
