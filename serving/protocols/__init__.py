"""Every route's handler and every body format's adapter, the function's own and the others'.

The others: OIP v2, KServe v1, MLflow, Vertex AI, BigQuery, CSV.

`detect` decides once what a body is; that format's adapter (`parse`) only reshapes it into an
Inference (a Batch, the methods asked for, and how to answer in the format's idiom); the
endpoint (serving/endpoint.py) maps paths to handlers and formats to adapters.
"""
