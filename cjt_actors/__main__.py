"""``python -m cjt_actors`` is the ``cjt`` command."""

import sys

from .cli import main

sys.exit(main())
