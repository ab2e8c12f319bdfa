"""`python -m arbiter.platform.store init | tenant add|remove ID`: see
`arbiter.platform.store.init`."""

import os
import sys

from arbiter.platform.store.init import main

sys.exit(main(sys.argv[1:], os.environ))
