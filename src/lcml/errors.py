"""Errors that lcml reports to users as one clear line (the CLI prints them without a traceback)."""


class LcmlError(Exception):
    """Base class: a problem the user can act on, with a message that says what and where."""


class InputError(LcmlError):
    """An input file or argument cannot be used (missing, wrong format, empty, all-NaN, ...)."""


class ValidationFailed(LcmlError):
    """A release failed data validation; training must not start on it."""


class ConfigError(LcmlError):
    """params.yaml or an environment setting is invalid."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (libraries write essays), or its type's name."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
