"""Pydantic validation errors as one sentence per problem, naming the option: shared by
directives (the DSL) and roles, which both validate options against a module-style model."""

from __future__ import annotations

import difflib
import re

from pydantic import ValidationError


def describe_validation(exc: ValidationError, known: list[str]) -> str:
    """Pydantic's errors as one sentence per problem, naming the option."""
    problems = []
    # A misspelt option first: it usually explains the "missing required option" after it.
    for error in sorted(exc.errors(), key=lambda error: error["type"] != "extra_forbidden"):
        option = str(error["loc"][0]) if error["loc"] else "?"
        where = ".".join(str(part) for part in error["loc"][1:])
        if error["type"] == "extra_forbidden":
            problem = f"unknown option '{option}'"
            close = difflib.get_close_matches(option, known, n=1)
            if close:
                problem += f"; did you mean '{close[0]}'?"
        elif error["type"] == "missing":
            problem = f"missing required option '{option}'"
        else:
            text = error["msg"].removeprefix("Value error, ")
            if not error["loc"]:  # a check across options (model validator): no single option
                problem = text
            else:
                subject = f"option '{option}'" + (f" ({where})" if where else "")
                problem = f"{subject}: {text} (got {error['input']!r})"
                if error["type"] == "literal_error" and isinstance(error["input"], str):
                    # "'running' or 'stopped'": the words this enum takes
                    words = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
                    close = difflib.get_close_matches(error["input"].lower(), words, n=1, cutoff=0.6)
                    if close:
                        problem += f"; did you mean '{close[0]}'?"
        problems.append(problem)
    return "; ".join(problems)
