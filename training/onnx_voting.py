"""An exact ONNX converter for VotingClassifier, soft and hard.

skl2onnx's refuses the default `flatten_transform=True` (even to predict) and scales each member
by 1/n before summing. Here the members (training/onnx_members.py) are combined as
scikit-learn combines them, in its order:

- soft: (p1*w1 + p2*w2 + ...) / sum(w), or (p1 + p2 + ...) / n (`np.average`);
- hard: per class, the sum of the weights (or the count) of the members that chose it, the
  first largest winning (`np.bincount` then `np.argmax`). A hard VotingClassifier has no
  predict_proba, and neither has its graph.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from training.onnx_graph import Graph
from training.onnx_members import declare_classifier, member_outputs, register_meta_classifier

ALIAS = "SklearnVotingClassifier"


def register() -> None:
    """Make skl2onnx parse and convert VotingClassifier with this module (idempotent)."""
    from sklearn.ensemble import VotingClassifier

    register_meta_classifier(VotingClassifier, ALIAS, convert_voting, parse_voting)


def parse_voting(scope: Any, model: Any, inputs: list[Any], custom_parsers: Any = None) -> Any:
    """Every member's labels (hard) or probabilities (soft), then the vote."""
    position = 0 if model.voting == "hard" else 1
    members = [member_outputs(scope, member, inputs)[position] for member in model.estimators_]
    return declare_classifier(scope, ALIAS, model, members, with_proba=model.voting == "soft")


def convert_voting(scope: Any, operator: Any, container: Any) -> None:
    graph = Graph(scope, container)
    model = operator.raw_operator
    members = [member.full_name for member in operator.inputs]
    weights = model._weights_not_none
    if model.voting == "soft":
        scores = _weighted_sum(graph, members, weights)
        divisor = float(np.sum(np.asarray(weights, dtype=np.float64))) if weights else len(members)
        average = graph.output("Div", [scores, graph.constant("count", np.float64(divisor))], "avg")
        graph.node("Identity", [average], [operator.outputs[1].full_name])
    else:
        classes = graph.constant("classes", np.arange(len(model.classes_)).reshape(1, -1))
        column = graph.constant("column", np.array([-1, 1], dtype=np.int64))
        votes = []
        for member in members:
            label = graph.output("Reshape", [member, column], "label")
            votes.append(graph.as_double(graph.output("Equal", [label, classes], "vote")))
        scores = _weighted_sum(graph, votes, weights)
    graph.argmax_label(scores, model.classes_, operator.outputs[0].full_name)


def _weighted_sum(graph: Graph, terms: list[str], weights: list[float] | None) -> str:
    """(t1*w1 + t2*w2) + ...; without weights (t1 + t2) + ...: NumPy's order."""
    if weights:
        terms = [
            graph.output("Mul", [term, graph.constant("weight", np.float64(weight))], "weighted")
            for term, weight in zip(terms, weights, strict=True)
        ]
    return graph.sum_in_order(terms)
