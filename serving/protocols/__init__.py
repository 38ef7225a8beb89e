"""Request formats beside the foundation's own: OIP v2, KServe v1, MLflow, Vertex AI and CSV.

Each module turns its format into rows (a float64 matrix) and the answer back into its idiom;
`router` maps paths to them and `shapes` picks a format from the body on the base URL.
"""
