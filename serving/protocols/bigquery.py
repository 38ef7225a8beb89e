"""BigQuery remote functions: `{"calls": [[arg, ...], ...]}` in, `{"replies": [...]}` out.

BigQuery posts one array of arguments per row, in the SQL function's parameter order (the
model's feature order), batched, to the URL the function's SQL definition names. Values are
as TO_JSON_STRING writes them: INT64 beyond 2^53 and NUMERIC as strings, FLOAT64 NaN and
Infinity as the strings "NaN" and "Infinity", SQL NULL as null; so numbers are read from text,
"NaN" is a missing value, and a STRING argument is text, never missing (serving/cells.py's
"bigquery" reading). `userDefinedContext` may choose the reply: the label (default),
`{"output": "probabilities"}` (a JSON object per row, for a RETURNS JSON function),
`{"output": "probability", "class": C}` (that class's probability, a number), or
`{"output": "explanations"}` (each row's explanation as a JSON string, for RETURNS STRING; or
PARSE_JSON it). A bad row is a 400 whose `errorMessage` names it: BigQuery retries only 408,
429, 500, 503 and 504.
"""

from __future__ import annotations

import functools
from typing import Any

from serving import jsonio
from serving.batch import Batch, Method
from serving.errors import InvalidInput, RequestError, echo
from serving.exchange import Inference, Reply, Request
from serving.loading import LoadedModel
from serving.prediction import Prediction
from serving.protocols.detect import Decoded

FIELDS = ("requestId", "caller", "sessionUser", "userDefinedContext", "calls")
# What userDefinedContext's "output" may choose.
REPLIES = ("label", "probabilities", "probability", "explanations")
# BigQuery shows errorMessage to the SQL user and wants it under 1 KB.
MAX_ERROR_MESSAGE = 1000


def parse(decoded: Decoded, request: Request, model: LoadedModel) -> Inference:
    """The calls as rows (read as BigQuery writes its values), and the reply userDefinedContext
    chooses."""
    document = decoded.document
    unknown = sorted(set(document) - set(FIELDS))
    if unknown:
        raise InvalidInput(f"unknown field {echo(unknown[0])}; accepted: {', '.join(FIELDS)}")
    calls = document["calls"]
    if not isinstance(calls, list) or not all(isinstance(call, list) for call in calls):
        raise InvalidInput("'calls' must be a list of argument lists, one per row")
    reply, chosen = _reply(document.get("userDefinedContext"), model)
    probabilities = reply in ("probabilities", "probability")
    methods: tuple[Method, ...] = ("predict_proba",) if probabilities else ("predict",)
    answer = functools.partial(_replies, reply=reply, chosen=chosen)
    explain = reply == "explanations"
    return Inference(Batch(rows=calls, reading="bigquery"), methods, answer, explain)


def explain(error: RequestError) -> None:
    """A client's error gets BigQuery's `errorMessage`, shown to the SQL user (a server-side
    one is retried by BigQuery, and its reason stays in the log)."""
    error.answer_fields["errorMessage"] = error.message[:MAX_ERROR_MESSAGE]


def _replies(prediction: Prediction, reply: str, chosen: Any) -> Reply:
    """One reply per row, in order: the label, every class's probability, one class's, or the
    row's explanation."""
    if reply == "label":
        replies = prediction.outputs["predict"].tolist()
    elif reply == "explanations":
        explanation = prediction.explanation
        assert explanation is not None, "explanations asked for are computed"
        header = explanation.header()
        replies = [jsonio.encode({**header, **row}).decode() for row in explanation.rows()]
    else:
        classes = list(prediction.manifest.classes or ())
        probabilities = prediction.outputs["predict_proba"].tolist()
        if reply == "probability":
            column = classes.index(chosen)
            replies = [row[column] for row in probabilities]
        else:
            replies = [dict(zip(map(str, classes), row, strict=True)) for row in probabilities]
    return Reply(200, {"replies": replies}, prediction.log, prediction=prediction)


def _reply(context: Any, model: LoadedModel) -> tuple[str, Any]:
    """The reply userDefinedContext's `output` asks for, and the class for `probability`."""
    if context is None:
        return "label", None
    if not isinstance(context, dict) or set(context) - {"output", "class"}:
        raise InvalidInput(
            'userDefinedContext may hold "output" (label, probabilities, probability or '
            'explanations) and "class" (with probability)'
        )
    reply = context.get("output", "label")
    if reply not in REPLIES:
        raise InvalidInput(f"userDefinedContext output must be one of {', '.join(REPLIES)}")
    if reply in ("probabilities", "probability"):
        model.runtime.offers(("predict_proba",))
    if reply != "probability":
        return reply, None
    classes = [str(c) for c in model.manifest.classes or ()]
    wanted = str(context.get("class"))
    if wanted not in classes:
        raise InvalidInput(f"userDefinedContext class must be one of {', '.join(classes)}")
    return reply, (model.manifest.classes or ())[classes.index(wanted)]
