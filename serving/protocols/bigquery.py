"""BigQuery remote functions: `{"calls": [[arg, ...], ...]}` in, `{"replies": [...]}` out.

BigQuery posts one array of arguments per row, in the SQL function's parameter order (the
model's feature order), batched, to the URL the function's SQL definition names. Values are
as TO_JSON_STRING writes them: INT64 beyond 2^53 and NUMERIC as strings, FLOAT64 NaN and
Infinity as the strings "NaN" and "Infinity", SQL NULL as null; so numbers are read from text,
and "NaN" is a missing value. `userDefinedContext` may choose the reply: the label (default),
`{"output": "probabilities"}` (a JSON object per row, for a RETURNS JSON function), or
`{"output": "probability", "class": C}` (that class's probability, a number). A bad row is a
400 whose `errorMessage` names it: BigQuery retries only 408, 429, 500, 503 and 504.
"""

from __future__ import annotations

from typing import Any

from serving.batch import Batch, Method
from serving.errors import InvalidInput, RequestError
from serving.exchange import Reply
from serving.loading import LoadedModel
from serving.prediction import score
from serving.validate import echo

FIELDS = ("requestId", "caller", "sessionUser", "userDefinedContext", "calls")
OUTPUTS = ("label", "probabilities", "probability")
# BigQuery shows errorMessage to the SQL user and wants it under 1 KB.
MAX_ERROR_MESSAGE = 1000


def answer(model: LoadedModel, body: dict[str, Any], max_rows: int) -> Reply:
    """One reply per call, in order; a client's error carries BigQuery's `errorMessage`
    (a server-side one is retried by BigQuery, and its reason stays in the log)."""
    try:
        return _answer(model, body, max_rows)
    except RequestError as exc:
        exc.body_fields["errorMessage"] = exc.message[:MAX_ERROR_MESSAGE]
        raise


def _answer(model: LoadedModel, body: dict[str, Any], max_rows: int) -> Reply:
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise InvalidInput(f"unknown field {echo(unknown[0])}; accepted: {', '.join(FIELDS)}")
    calls = body["calls"]
    if not isinstance(calls, list) or not all(isinstance(call, list) for call in calls):
        raise InvalidInput("'calls' must be a list of argument lists, one per row")
    output, chosen = _output(body.get("userDefinedContext"), model)
    methods: tuple[Method, ...] = ("predict",) if output == "label" else ("predict_proba",)
    scored, outputs = score(model, Batch(rows=calls, text=True), methods, max_rows)
    if output == "label":
        replies = outputs["predict"].tolist()
    else:
        classes = list(model.manifest.classes or ())
        probabilities = outputs["predict_proba"].tolist()
        if output == "probability":
            column = classes.index(chosen)
            replies = [row[column] for row in probabilities]
        else:
            replies = [dict(zip(map(str, classes), row, strict=True)) for row in probabilities]
    log = {"rows": scored.table.n_rows, "output": output}
    return Reply(200, {"replies": replies}, log, scored=scored)


def _output(context: Any, model: LoadedModel) -> tuple[str, Any]:
    """The reply asked for in userDefinedContext, and the class for `probability`."""
    if context is None:
        return "label", None
    if not isinstance(context, dict) or set(context) - {"output", "class"}:
        raise InvalidInput(
            'userDefinedContext may hold "output" (label, probabilities or probability) and '
            '"class" (with probability)'
        )
    output = context.get("output", "label")
    if output not in OUTPUTS:
        raise InvalidInput(f"userDefinedContext output must be one of {', '.join(OUTPUTS)}")
    classes = [str(c) for c in model.manifest.classes or ()]
    if output != "label" and not classes:
        raise InvalidInput("probabilities are only available for classifiers")
    if output != "probability":
        return output, None
    wanted = str(context.get("class"))
    if wanted not in classes:
        raise InvalidInput(f"userDefinedContext class must be one of {', '.join(classes)}")
    return output, (model.manifest.classes or ())[classes.index(wanted)]
