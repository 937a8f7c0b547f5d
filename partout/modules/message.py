"""The `message` directive (wrapped by the `logmsg` role): a message in the run's
report and in the agent's log. The message is the title, so it is the report entry's id
(`message:<text>`), with status ok; nothing on the machine changes, so a second run
reports 0 changed. `--noop` logs it too: a message changes nothing.
"""

from __future__ import annotations

import logging
from typing import Literal

from pydantic import Field

from partout.modules.base import STATELESS, Change, Module, ModuleOptions, RunContext

log = logging.getLogger(__name__)

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


class MessageOptions(ModuleOptions):
    """Log a message into the report (status ok); changes nothing."""

    title_field = "message"

    message: str = Field(description="The text (the title); shown as the report entry message:<text>.")
    level: Literal["debug", "info", "warning", "error"] = Field("info", description="Log level in the agent's log.")


def check(spec: MessageOptions, context: RunContext) -> Change | None:
    # Constant log text with the message as data, as everywhere in Partout.
    log.log(_LEVELS[spec.level], "policy message", extra={"policy_message": spec.message, "noop": context.noop})
    return None


def apply(spec: MessageOptions, change: Change, context: RunContext) -> str | None:
    return None


MODULE = Module(
    name="message",
    options=MessageOptions,
    check=check,
    apply=apply,
    watching=STATELESS,
    concurrent=True,
    summary="Put a message into the report and the log; changes nothing (the logmsg role wraps it).",
)
