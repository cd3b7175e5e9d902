"""``python -m nc3d …`` runs the command line, as the ``nc3d`` script does (and ``torchrun -m nc3d …``)."""

import sys

from ._console import main

sys.exit(main())
