"""What every subcommand shares: turning Partout errors into a message and an exit code."""

from __future__ import annotations

import contextlib
import functools
import gc
import sys
from collections.abc import Callable, Iterator
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


@contextlib.contextmanager
def long_lived(*, collect: bool = False) -> Iterator[None]:
    """For a block that creates objects which live until the process exits (imported
    modules and classes, the facts and the compiled catalog): no cyclic garbage
    collection while it runs, and its survivors frozen afterwards, so that later
    collections do not walk them again.

    Imports create tens of thousands of objects; collecting during them finds no garbage,
    and every later full collection would traverse them all (~20 ms in a 1,000-file run).
    `collect`: first collect the garbage cycles the block left (compiling a policy leaves
    a few per resource), so that only live objects are frozen; this walks only what the
    block made, as earlier blocks' objects are frozen already."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collect:
            gc.collect(0)  # with collection off, everything the block made is in generation 0
        gc.freeze()
        if enabled:
            gc.enable()
