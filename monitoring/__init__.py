"""The drift report's parts: reading prediction log entries, measuring drift, writing the report."""
