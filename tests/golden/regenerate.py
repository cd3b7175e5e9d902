"""Write the golden ``.nc3d`` file of each registered codec that has none yet, and its expected decode.

    PYTHONPATH=src python tests/golden/regenerate.py            # only codecs without a golden file
    PYTHONPATH=src python tests/golden/regenerate.py --force X  # rewrite codec X's (format change!)

Each file is :func:`nc3d.testing.fuzz.sample_file` of the codec (a tiny input of its kind, cheapest
settings: a few hundred bytes to a few kB). ``expected.json`` holds, per codec, the file's
SHA-256 and :func:`nc3d.testing.fuzz.describe_result` of its decode (:func:`nc3d.testing.fuzz.decode_quick`).
``tests/test_golden.py`` decodes every file with the current code and compares. Never rewrite an
existing golden file to make that test pass: it is what proves old files still decode.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
EXPECTED = HERE / "expected.json"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--force", nargs="*", default=[], metavar="CODEC", help="rewrite these codecs' files")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    from nc3d.codecs.base import codec_names
    from nc3d.testing import fuzz

    expected = json.loads(EXPECTED.read_text()) if EXPECTED.exists() else {}
    for name in codec_names():
        path = HERE / f"{name}.nc3d"
        if path.exists() and name in expected and name not in args.force:
            continue
        blob = fuzz.sample_file(name)
        kind, result = fuzz.decode_quick(blob)
        path.write_bytes(blob)
        expected[name] = {
            "file": path.name,
            "bytes": len(blob),
            "file_sha256": hashlib.sha256(blob).hexdigest(),
            "kind": kind,
            "decoded": fuzz.describe_result(kind, result),
        }
        print(f"{path.name}: {len(blob)} bytes")
    EXPECTED.write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
