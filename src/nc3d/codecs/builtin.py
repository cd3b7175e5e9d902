"""Imports every nc3d codec module so that each registers itself."""

from . import implicit  # noqa: F401
from . import shapeset  # noqa: F401
from . import volume  # noqa: F401
