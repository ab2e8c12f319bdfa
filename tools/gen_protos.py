"""Generate the `arbiter.v1` package from protos/: protobuf and gRPC modules plus type stubs.

setup.py's build_py runs `generate` on every build: into the build tree for a wheel
(`pip wheel .`, `pip install .`), into services/v1 for an editable install (`pip install -e .`).
`make protos` runs this file to regenerate services/v1 after editing a .proto. The output is
git-ignored, so generated code is never edited by hand.

The .pyi stubs come from mypy-protobuf (protoc-gen-mypy, protoc-gen-mypy_grpc); type-checking
code that imports them needs types-protobuf and types-grpcio.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
SOURCE_TARGET = ROOT / "services" / "v1"
PLUGINS = ("protoc-gen-mypy", "protoc-gen-mypy_grpc")


class ProtocError(RuntimeError):
    """protoc rejected the protos or a plugin failed; protoc has printed why."""


def _plugin_path(name: str) -> Path:
    """The plugin script installed with the mypy-protobuf that this interpreter imports, so a
    build environment and a virtualenv each use their own, whatever is on PATH."""
    for file in metadata.distribution("mypy-protobuf").files or ():
        if file.name == name:
            return Path(str(file.locate())).resolve()
    raise ProtocError(f"mypy-protobuf is installed without its {name} script")


def generate(target: Path) -> list[str]:
    """Replace `target` (the arbiter/v1 package directory) with code generated from every
    protos/**/*.proto; returns the protos compiled."""
    sources = sorted(str(p.relative_to(PROTO_ROOT)) for p in PROTO_ROOT.rglob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "protoc",
            f"-I{PROTO_ROOT}",
            f"-I{include}",
            *(f"--plugin={name}={_plugin_path(name)}" for name in PLUGINS),
            f"--python_out={tmp}",
            f"--grpc_python_out={tmp}",
            f"--mypy_out=quiet:{tmp}",
            f"--mypy_grpc_out=quiet:{tmp}",
            *sources,
        ]
        if protoc.main(args) != 0:
            raise ProtocError("protoc failed on protos/ (its errors are above)")
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(Path(tmp) / "arbiter" / "v1", target)
    (target / "__init__.py").write_text(
        '"""Generated from protos/arbiter/v1 by tools/gen_protos.py."""\n'
    )
    return sources


def main() -> int:
    try:
        sources = generate(SOURCE_TARGET)
    except ProtocError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"generated {len(sources)} protos into {SOURCE_TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
