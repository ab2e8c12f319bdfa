"""Map the `services/` folder onto the `arbiter` import package.

pyproject.toml cannot rename packages found by `find`, so list them here: every
sub-package of services/ (including the generated services/v1) becomes arbiter.<name>.
"""

from setuptools import find_packages, setup

setup(packages=["arbiter", *(f"arbiter.{name}" for name in find_packages("services"))])
