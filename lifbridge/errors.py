"""Exceptions raised by lifbridge.

Every error that a user can cause (a bad model file, a bad command-line value, an
impossible parameter) is a :class:`LifbridgeError`; the command line prints its
message on one line and exits with status 2, never with a traceback.
"""


#: Longest message of a :class:`SpecError` (longer ones end in "…").
MAX_MESSAGE_CHARS = 400
MAX_SOURCE_CHARS = 120
MAX_FIELD_CHARS = 100


class LifbridgeError(Exception):
    """Base class of every error lifbridge raises on purpose."""


class UnitError(LifbridgeError):
    """An unknown unit, or a unit string that cannot be parsed."""


class ExpressionError(LifbridgeError):
    """An expression that is not allowed, cannot be parsed, or is dimensionally wrong."""


class SpecError(LifbridgeError):
    """A problem in a model file, located by file and field.

    ``str(error)`` reads ``models/adex.toml [equations].V_m: <problem>``.

    The message is always one line of at most :data:`MAX_MESSAGE_CHARS` characters:
    control characters (line breaks included) are shown escaped, a very long path
    keeps its end and a very long field its start.
    """

    def __init__(self, source, field, problem):
        from .text import one_line

        source = one_line(str(source) if source is not None else "<model>")
        if len(source) > MAX_SOURCE_CHARS:
            source = "…" + source[-(MAX_SOURCE_CHARS - 1):]
        field = one_line(field or "")
        if len(field) > MAX_FIELD_CHARS:
            field = field[:MAX_FIELD_CHARS - 1] + "…"
        self.source = source
        self.field = field
        self.problem = one_line(problem)
        where = self.source if not field else f"{self.source} {field}"
        message = f"{where}: {self.problem}"
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[:MAX_MESSAGE_CHARS - 1] + "…"
        super().__init__(message)


class ParameterError(LifbridgeError):
    """A parameter value outside its allowed range or violating a model constraint."""


class BackendUnavailable(LifbridgeError):
    """A backend (simulator) that is not installed or cannot represent a model."""


class Diverged(LifbridgeError):
    """A simulation whose state became non-finite or ran away (see :mod:`lifbridge.divergence`).

    ``divergence`` is the :class:`lifbridge.divergence.Divergence` record; the command
    line exits with status 3.
    """

    def __init__(self, message, divergence=None):
        super().__init__(message)
        self.divergence = divergence
