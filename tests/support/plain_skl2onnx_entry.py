"""Prints, as JSON, the named tree cases' ONNX parity through skl2onnx's own converters.

Run in its own process so that the exact converters are not registered.
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tree_cases import onnx_parity


def main() -> None:
    results = {}
    for case in sys.argv[1:]:
        try:
            labels_equal, difference = onnx_parity(case)
            results[case] = {"labels_equal": labels_equal, "max_abs_diff": difference}
        except Exception as exc:
            results[case] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
