"""Where lifbridge keeps what it computes once: compiled NEST modules, Brian2
standalone projects, reference-integrator results."""

import os
from pathlib import Path


def cache_root() -> Path:
    """``$LIFBRIDGE_CACHE``, else ``$XDG_CACHE_HOME/lifbridge``, else ``~/.cache/lifbridge``."""
    if os.environ.get("LIFBRIDGE_CACHE"):
        return Path(os.environ["LIFBRIDGE_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "lifbridge"
