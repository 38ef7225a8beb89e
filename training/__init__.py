"""Training-time code behind train.py: data loading, schema, packaging and ONNX export.

Never uploaded to Cloud Functions (.gcloudignore) and never imported by serving/.
"""
