"""Map the source folder onto the `arbiter` import package.

`services/` is `arbiter` (each service a sub-package: services/risk -> arbiter.risk, the
operator services/operator -> arbiter.operator). pyproject.toml cannot rename packages found
by `find`, so they are listed here, including the generated services/v1.
"""

from setuptools import find_packages, setup

setup(
    package_dir={"arbiter": "services"},
    packages=["arbiter", *(f"arbiter.{name}" for name in find_packages("services"))],
)
