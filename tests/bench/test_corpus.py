"""bench/corpus/: users' pipelines packaged and served, and the step blamed when not on ONNX.

Two small pipelines of the corpus go through bench/corpus/run.py's check (fit, train.py
--from-model, serve through the function); the whole corpus is the benchmark's job
(BENCHMARKS.md). The cloud load proof is swapped for a load here, as in test_conformance.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.corpus import run
from bench.corpus.pipelines import PIPELINES
from tests.support.load_here import loads_here


@pytest.fixture
def quick_packaging(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("training.package.cloud_load_problem", loads_here)


def test_the_corpus_holds_at_least_fifteen_pipelines() -> None:
    assert len(PIPELINES) >= 15


@pytest.mark.usefixtures("quick_packaging")
def test_a_corpus_pipeline_reaches_onnx_with_exact_answers(tmp_path: Path) -> None:
    result = run.check("state_crime_pca", tmp_path)

    assert result["runtime"] == "onnx"
    assert result["served_equal"]
    assert result["why"] == "-"


@pytest.mark.usefixtures("quick_packaging")
def test_a_pipeline_left_on_scikit_learn_names_its_step(tmp_path: Path) -> None:
    result = run.check("stack_loss_svr", tmp_path)

    assert result["runtime"] == "sklearn"
    assert result["served_equal"]
    assert result["why"].startswith("SVR: does not convert to float64 ONNX")


def test_the_blamed_step_is_the_first_whose_output_is_not_exact() -> None:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PowerTransformer, StandardScaler

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"size x": rng.lognormal(size=80), "weight.kg": rng.normal(size=80)})
    model = make_pipeline(StandardScaler(), PowerTransformer(), Ridge()).fit(
        frame, rng.normal(size=80)
    )
    manifest = {
        "feature_names": list(frame.columns),
        "features": [{"name": name, "type": "number", "nullable": False} for name in frame],
    }

    assert run.responsible_step(model, frame, manifest) == "PowerTransformer"
