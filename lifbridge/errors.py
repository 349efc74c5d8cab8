"""Exceptions raised by lifbridge.

Every error that a user can cause (a bad model file, a bad command-line value, an
impossible parameter) is a :class:`LifbridgeError`; the command line prints its
message on one line and exits with status 2, never with a traceback.
"""


class LifbridgeError(Exception):
    """Base class of every error lifbridge raises on purpose."""


class UnitError(LifbridgeError):
    """An unknown unit, or a unit string that cannot be parsed."""


class ExpressionError(LifbridgeError):
    """An expression that is not allowed, cannot be parsed, or is dimensionally wrong."""


class SpecError(LifbridgeError):
    """A problem in a model file, located by file and field.

    ``str(error)`` reads ``models/adex.toml [equations].V_m: <problem>``.
    """

    def __init__(self, source, field, problem):
        self.source = str(source) if source is not None else "<model>"
        self.field = field
        self.problem = problem
        where = self.source if not field else f"{self.source} {field}"
        super().__init__(f"{where}: {problem}")


class ParameterError(LifbridgeError):
    """A parameter value outside its allowed range or violating a model constraint."""


class BackendUnavailable(LifbridgeError):
    """A backend (simulator) that is not installed or cannot represent a model."""
