"""score.py's parts: reading a CSV in chunks, sending them, and the resumable output."""
