"""Why a prediction: exact per-feature contributions, NumPy only, imported on first use.

`artifact` reads explanations.npz into an explainer: path-dependent TreeSHAP for trees
(`treeshap`), coef * (x - mean) for linear models (`linear`).
"""
