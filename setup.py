"""Map the source folders onto the `arbiter` import package.

`services/` is `arbiter` (each service a sub-package: services/risk -> arbiter.risk) and
`operator/` is `arbiter.operator` (a top-level `operator` would shadow the stdlib module).
pyproject.toml cannot rename packages found by `find`, so they are listed here, including
the generated services/v1.
"""

from setuptools import find_packages, setup

PACKAGE_DIRS = {"arbiter": "services", "arbiter.operator": "operator"}


def _packages() -> list[str]:
    found = ["arbiter", "arbiter.operator"]
    for prefix, folder in PACKAGE_DIRS.items():
        found += [f"{prefix}.{name}" for name in find_packages(folder)]
    return found


setup(package_dir=PACKAGE_DIRS, packages=_packages())
