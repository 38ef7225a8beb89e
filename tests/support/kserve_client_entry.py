"""KServe's own Python client (the `kserve` package) asks a URL for predictions; prints JSON.

Runs in its own venv (the package pins pandas < 3 and protobuf < 7, which this project's
pins exclude): `python kserve_client_entry.py URL MODEL_NAME ROWS_JSON`. For protocol v2 it
sends the rows as FP64 with the client's default binary data and again as JSON; for v1 it sends
`instances`. Prints {"v2_binary": [...], "v2_json": [...], "v1": [...]}: the predictions.
"""

import asyncio
import json
import sys

import numpy as np
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig


async def ask(url: str, model_name: str, rows: np.ndarray) -> dict[str, list[object]]:
    answers: dict[str, list[object]] = {}
    v2 = InferenceRESTClient(RESTConfig(protocol="v2", timeout=30))
    for label, binary in (("v2_binary", True), ("v2_json", False)):
        tensor = InferInput(name="input-0", shape=list(rows.shape), datatype="FP64")
        tensor.set_data_from_numpy(rows, binary_data=binary)
        request = InferRequest(model_name=model_name, infer_inputs=[tensor], request_id=label)
        result = await v2.infer(url, request, model_name=model_name)
        answers[label] = result.outputs[0].as_numpy().tolist()
    await v2.close()
    v1 = InferenceRESTClient(RESTConfig(protocol="v1", timeout=30))
    result = await v1.infer(url, {"instances": rows.tolist()}, model_name=model_name)
    answers["v1"] = result["predictions"]
    await v1.close()
    return answers


def main() -> None:
    url, model_name, rows = sys.argv[1], sys.argv[2], np.asarray(json.loads(sys.argv[3]))
    print(json.dumps(asyncio.run(ask(url, model_name, rows))))


if __name__ == "__main__":
    main()
