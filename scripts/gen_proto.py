"""Regenerate the protobuf and gRPC modules in bridge/_proto from proto/*.proto.

The one way generated code is made. CI runs it and fails when the committed files differ.
The sources map under the virtual path bridge/_proto so the generated imports are
package-absolute (``from bridge._proto import ...``).
"""

from __future__ import annotations

import pathlib
import sys

import grpc_tools
from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCES = ROOT / "proto"
OUT = ROOT


def main() -> int:
    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    protos = sorted(SOURCES.glob("*.proto"))
    args = [
        "protoc",
        f"-Ibridge/_proto={SOURCES}",
        f"-I{well_known}",
        f"--python_out={OUT}",
        f"--pyi_out={OUT}",
        f"--grpc_python_out={OUT}",
        *(f"bridge/_proto/{p.name}" for p in protos),
    ]
    code = protoc.main(args)
    if code != 0:
        print(f"protoc failed with exit code {code}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
