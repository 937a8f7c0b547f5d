"""Jinja2 templates for file content: StrictUndefined, with `facts`, `vars` and `title`
in scope. Jinja2 is imported on the first render only, so a policy without templates
does not pay for it."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from partout.errors import PolicyError

if TYPE_CHECKING:
    import jinja2


class TemplateError(PolicyError):
    """A template does not parse or render: carries the template's name and line,
    e.g. "templates/motd.j2:3: 'foo' is undefined"."""

    def __init__(self, message: str, *, template: str, line: int | None = None) -> None:
        self.template = template
        super().__init__(message, file=template, line=line)

    def __str__(self) -> str:
        # The template name is not a filesystem path to normalise: show it as given.
        where = f"{self.template}:{self.line}: " if self.line is not None else f"{self.template}: "
        return f"{where}{self.reason}"


_environment: jinja2.Environment | None = None
_lock = threading.Lock()


def _jinja() -> jinja2.Environment:
    global _environment
    with _lock:
        if _environment is None:
            import jinja2

            _environment = jinja2.Environment(
                undefined=jinja2.StrictUndefined,
                keep_trailing_newline=True,
                autoescape=False,
                # Templates make config files, not HTML: no autoescape, and a policy
                # author's own code anyway.
            )
        return _environment


def render_template(text: str, *, name: str, facts: object, vars: Mapping[str, object], title: str) -> str:
    """Render template text; a syntax error or an undefined name raises TemplateError
    naming `name` and the template line."""
    import jinja2

    environment = _jinja()
    try:
        template = environment.from_string(text)
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(exc.message or "syntax error", template=name, line=exc.lineno) from None
    context: dict[str, Any] = {"facts": facts, "vars": dict(vars), "title": title}
    # Top-level access to vars too ({{ port }} as well as {{ vars.port }}), like Salt and Ansible.
    for key, value in vars.items():
        context.setdefault(key, value)
    try:
        return template.render(context)
    except jinja2.TemplateError as exc:
        raise TemplateError(str(exc.message or exc), template=name, line=_template_line(exc)) from None
    except Exception as exc:  # a fact or filter raised: still say where in the template
        raise TemplateError(f"{type(exc).__name__}: {exc}", template=name, line=_template_line(exc)) from None


def render_file(path: Path, *, name: str, facts: object, vars: Mapping[str, object], title: str) -> str:
    """Read and render a template file; a missing file is a TemplateError too."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TemplateError(f"template not found (looked at {path})", template=name) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"cannot read template {path}: {exc}", template=name) from None
    return render_template(text, name=name, facts=facts, vars=vars, title=title)


def _template_line(exc: BaseException) -> int | None:
    """The line in the template that raised: the last traceback frame from template code."""
    line = None
    traceback = exc.__traceback__
    while traceback is not None:
        frame = traceback.tb_frame
        if frame.f_code.co_filename == "<template>":
            if "__jinja_exception__" in frame.f_globals:
                # A frame Jinja rewrote: its line number is already the template's.
                line = traceback.tb_lineno
            else:
                line = _jinja_line(frame.f_globals, traceback.tb_lineno)
        traceback = traceback.tb_next
    return line


def _jinja_line(globals_: dict[str, Any], python_line: int) -> int | None:
    debug_info = globals_.get("__jinja_template__")
    if debug_info is not None:
        return int(debug_info.get_corresponding_lineno(python_line))
    return None
