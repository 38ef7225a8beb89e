"""Issue 25's test packages served by a real functions-framework server, in every format (JSON,
CSV, OIP with JSON and binary tensors, BigQuery calls), on every runtime the package has: the
same answers as the model's own, in every format. "None" air bags are a category (item 2, read
as missing by CSV, OIP BYTES and BigQuery before, which answered BigQuery differently with a
200); zip codes that look like numbers are text (item 3). The custom transformer shipped with
--code is served in every format by tests/serving/test_user_code.py."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import schema_packages
from tests.support.every_format import disagreements
from tests.support.schema_packages import Package
from tests.support.servers import Server, start_server


@pytest.fixture(scope="module")
def none_category(tmp_path_factory: pytest.TempPathFactory) -> Package:
    return schema_packages.none_category(tmp_path_factory.mktemp("none-category"))


@pytest.fixture(scope="module")
def zip_codes(tmp_path_factory: pytest.TempPathFactory) -> Package:
    return schema_packages.zip_codes(tmp_path_factory.mktemp("zip-codes"))


def runtimes(package: Package) -> list[str]:
    """The runtimes the package serves on: ONNX only where train.py exported it."""
    return ["sklearn", "onnx"] if (package.folder / "model.onnx").exists() else ["sklearn"]


@contextlib.contextmanager
def served(package: Package, runtime: str) -> Iterator[Server]:
    """A real server for the package on one runtime, for the block."""
    server = start_server({"MODEL_URI": str(package.folder), "MODEL_RUNTIME": runtime})
    try:
        yield server
    finally:
        server.stop()


def manifest(package: Package) -> dict[str, Any]:
    return json.loads((package.folder / "manifest.json").read_text())


def test_none_is_a_category_in_every_format(none_category: Package) -> None:
    rows = none_category.frame.iloc[:60]
    assert (rows["airbags"] == "None").any()
    assert rows["origin"].isna().any()
    assert rows["horsepower"].isna().any()
    expected = none_category.model().predict_proba(rows)
    assert runtimes(none_category) == ["sklearn"], "LogisticRegression on strings: no ONNX yet"
    with served(none_category, "sklearn") as server:
        found = disagreements(
            server.url, rows, manifest(none_category), "predict_proba", expected, 1e-12
        )
        assert found == {}


@pytest.mark.parametrize("runtime", ["sklearn", "onnx"])
def test_zip_codes_are_text_in_every_format(zip_codes: Package, runtime: str) -> None:
    assert runtime in runtimes(zip_codes)
    rows = zip_codes.frame.iloc[:50]
    expected = zip_codes.model().predict(rows)
    with served(zip_codes, runtime) as server:
        assert disagreements(server.url, rows, manifest(zip_codes), "predict", expected, 1e-9) == {}
