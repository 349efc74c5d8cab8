"""The HH-derived equivalents now live in :mod:`lifbridge.judge` (measure, fit, compare).

This name is kept so that existing imports keep working; new code imports
:mod:`lifbridge.judge`.
"""

from .judge import *  # noqa: F401,F403
from .judge import __all__  # noqa: F401
from .judge.compare import what_does_not_match as _honest_paragraph  # noqa: F401
from .judge.fit import CALIBRATION_MULTIPLE  # noqa: F401
from .judge.measure import NOISE_TEST, STEP_TEST_MULTIPLE, STEP_TEST_ONSET_MS  # noqa: F401
