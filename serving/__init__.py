"""Serve a scikit-learn model (or its ONNX export) from one Cloud Functions HTTP handler."""
