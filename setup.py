"""Map the source folder onto the `arbiter` import package and generate `arbiter.v1`.

`services/` is `arbiter` (each service a sub-package: services/risk -> arbiter.risk, the
operator services/operator -> arbiter.operator). pyproject.toml cannot rename packages found
by `find`, so they are listed here.

`arbiter.v1` is generated from protos/ by tools/gen_protos.py on every build, so it is left
out of `packages` (a stale git-ignored services/v1 is never copied): build_py writes it into
the build tree for a wheel, and into services/v1 for an editable install, whose finder
imports `arbiter` from services/.
"""

import sys
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

sys.path.insert(0, str(Path(__file__).resolve().parent / "tools"))
from gen_protos import SOURCE_TARGET, ProtocError, generate


class BuildPyWithProtos(build_py):
    def run(self) -> None:
        target = SOURCE_TARGET if self.editable_mode else Path(self.build_lib) / "arbiter" / "v1"
        try:
            generate(target)
        except ProtocError as exc:
            # SystemExit, not an Exception: editable_wheel turns a custom build_py's
            # exceptions into a warning and would install without arbiter.v1.
            raise SystemExit(f"error: {exc}") from exc
        super().run()


SUBPACKAGES = find_packages("services", exclude=["v1"])

setup(
    package_dir={"arbiter": "services"},
    packages=["arbiter", *(f"arbiter.{name}" for name in SUBPACKAGES)],
    cmdclass={"build_py": BuildPyWithProtos},
)
