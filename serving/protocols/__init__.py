"""Request formats beside the function's own format: OIP v2, KServe v1, MLflow, BigQuery, CSV.

`router` maps paths to their handlers; `detect` decides once what a body is; `formats` hands it
to that format's parser, which only reshapes it into a Batch, and answers in its idiom.
"""
