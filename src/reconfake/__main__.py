"""``python -m reconfake``: the same CLI as the ``reconfake`` command."""

import sys

from reconfake.cli import main

sys.exit(main())
