"""What every subcommand shares: turning Partout errors into a message and an exit code."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click

from partout.errors import PartoutError, PolicyError

# Exit codes (CONVENTIONS.md): 0 done, 1 a resource failed, 2 bad policy or usage.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

Parameters = ParamSpec("Parameters")
Result = TypeVar("Result")


def reports_errors(function: Callable[Parameters, Result]) -> Callable[Parameters, Result]:
    """Print a PartoutError as one line on stderr (traceback under --debug) and exit:
    2 for policy errors (and errors whose `exit_code` says so), 1 for the rest."""

    @functools.wraps(function)
    def wrapper(*args: Parameters.args, **kwargs: Parameters.kwargs) -> Result:
        try:
            return function(*args, **kwargs)
        except PartoutError as exc:
            context = click.get_current_context(silent=True)
            debug = bool(context and context.find_root().obj and context.find_root().obj.get("debug"))
            if debug:
                raise
            click.echo(f"partout: error: {exc}", err=True)
            code = getattr(exc, "exit_code", EXIT_USAGE if isinstance(exc, PolicyError) else EXIT_FAILED)
            sys.exit(code)

    return wrapper
