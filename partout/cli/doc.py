"""`partout doc [MODULE]`: every directive's options, generated from the module schemas,
so a module added to the registry is documented without touching this file."""

from __future__ import annotations

import difflib
import inspect
import json
import textwrap
from typing import Any

import click

from partout.cli.common import reports_errors

# What the engine, not the module, accepts on every directive (partout.dsl.catalog.Resource).
META_OPTIONS = {
    "require": "ids ('module:title') that must be applied first",
    "before": "ids that must be applied after this one",
    "on": "{'module:title:changed': 'action'}: run an action of this module on an event",
    "onlyif": "a shell command or a callable on facts: apply only when it succeeds / is true",
    "unless": "a shell command or a callable on facts: skip when it succeeds / is true",
    "watch": "repair drift in real time under `partout apply --watch` and the agent, noticed as each "
             "directive's `watched:` line says; an error on directives without state (a `with p2.watch():` "
             "block leaves them out)",
}


def load_modules(only: str | None) -> tuple[dict[str, Any], list[str]]:
    """The modules to document, and notes about those that cannot be loaded."""
    from partout.modules import registry
    from partout.roles.schemas import ROLE_OPTIONS

    names = registry.names()
    if only is not None:
        if only in ROLE_OPTIONS and not registry.is_module(only):
            return {}, []
        if not registry.is_module(only):
            close = difflib.get_close_matches(only, [*names, *ROLE_OPTIONS], n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise click.BadParameter(f"no module {only!r} and no built-in role of that name{hint} "
                                     f"(modules: {', '.join(names)}; roles: {', '.join(ROLE_OPTIONS)})",
                                     param_hint="MODULE")
        names = [only]
    modules: dict[str, Any] = {}
    notes = []
    for name in names:
        try:
            modules[name] = registry.get(name)
        except ModuleNotFoundError as exc:
            # A directive registered but not built yet: say so, document the rest.
            notes.append(f"{name}: not available in this build ({exc.name})")
        except Exception as exc:  # a broken module must not hide the others' docs
            notes.append(f"{name}: cannot be loaded: {type(exc).__name__}: {exc}")
    return modules, notes


def describe_type(schema: dict[str, Any], definitions: dict[str, Any]) -> str:
    """A short human type from a JSON schema fragment: 'string | null', '"a" | "b"'."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return describe_type(definitions.get(name, {}), definitions) if name in definitions else name
    if "enum" in schema:
        return " | ".join(json.dumps(value) for value in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"])
    for combiner in ("anyOf", "oneOf", "allOf"):
        if combiner in schema:
            return " | ".join(describe_type(part, definitions) for part in schema[combiner])
    kind = schema.get("type")
    if kind == "array":
        return f"list of {describe_type(schema.get('items', {}), definitions)}"
    if kind == "object":
        values = schema.get("additionalProperties")
        if isinstance(values, dict) and values:
            return f"mapping of string to {describe_type(values, definitions)}"
        return "mapping"
    if kind == "string" and schema.get("format") == "path":
        return "path"
    if isinstance(kind, list):
        return " | ".join(kind)
    return str(kind) if kind else "any"


def load_roles(only: str | None) -> dict[str, Any]:
    """The built-in roles to document: their options models."""
    from partout.roles.schemas import ROLE_OPTIONS

    if only is None:
        return dict(ROLE_OPTIONS)
    return {only: ROLE_OPTIONS[only]} if only in ROLE_OPTIONS else {}


def role_document(name: str, options: Any) -> dict[str, Any]:
    """A role is watched as the module it declares resources of."""
    from partout.modules import registry

    summary, _, description = inspect.cleandoc(options.__doc__ or "").partition("\n")
    return {
        "name": name,
        "kind": "role",
        "module": options.module,
        "summary": summary,
        "description": description.strip(),
        "title_field": options.title_field,
        "actions": [],
        "watched": _watched(registry.get(options.module)),
        "schema": _schema(options),
    }


def _watched(module: Any) -> dict[str, Any]:
    return {"how": module.watching.how, "detail": module.watching.detail, "stateless": module.watching.stateless}


def _schema(options: Any) -> dict[str, Any]:
    schema: dict[str, Any] = options.model_json_schema()
    # default_factory defaults (returns=[0]) are not in the JSON schema: add them.
    for field, info in options.model_fields.items():
        property_schema = schema.get("properties", {}).get(field)
        if property_schema is not None and "default" not in property_schema and not info.is_required():
            try:
                property_schema["default"] = json.loads(json.dumps(info.get_default(call_default_factory=True)))
            except (TypeError, ValueError):
                pass
    return schema


def module_document(name: str, module: Any) -> dict[str, Any]:
    options = module.options
    description = inspect.cleandoc(options.__doc__ or "")
    return {
        "name": name,
        "kind": "module",
        "summary": module.summary or (description.splitlines() or [""])[0],
        "description": description,
        "title_field": options.title_field,
        "actions": sorted(module.actions),
        "concurrent": module.concurrent,
        "watched": _watched(module),
        "schema": _schema(options),
    }


def describe_watching(watched: dict[str, Any]) -> str:
    """One line: how drift of the directive's resources is noticed under watch=True."""
    if watched["stateless"]:
        return f"watched: never: {watched['detail']}; watch=True on it is an error"
    if watched["how"] == "none":
        return f"watched: {watched['detail']}"
    return f"watched: by {watched['how']}: {watched['detail']}"


def render_text(document: dict[str, Any]) -> str:
    schema = document["schema"]
    definitions = schema.get("$defs", {})
    required = set(schema.get("required", []))
    title = document["title_field"]
    lines = [f"{document['name']}: {document['summary']}", ""]
    lines.append(f"  p2.{document['name']}(TITLE, **options)    TITLE sets `{title}`; a list of titles makes one each")
    if document["description"] and document["description"] != document["summary"]:
        lines += ["", *textwrap.indent(document["description"], "  ").splitlines()]
    if document["kind"] == "role":
        lines += ["", f"  a built-in role: its resources are reported as `{document['module']}:...` "
                  f"(partout doc {document['module']})"]
    if document["actions"]:
        lines += ["", f"  actions (for on=): {', '.join(document['actions'])}"]
    lines += ["", *textwrap.wrap(describe_watching(document["watched"]), width=96, initial_indent="  ",
                                 subsequent_indent="      ")]
    lines += ["", "  options:"]
    for field, field_schema in schema.get("properties", {}).items():
        if field in required:
            default = "required"
        elif "default" in field_schema:
            default = f"default {json.dumps(field_schema['default'])}"
        else:
            default = "optional"
        lines.append(f"    {field}: {describe_type(field_schema, definitions)}  ({default})")
        extra = []
        if "pattern" in field_schema:
            extra.append(f"must match {field_schema['pattern']}")
        for bound, word in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
            if bound in field_schema:
                extra.append(f"{word} {field_schema[bound]}")
        description = field_schema.get("description", "")
        text = " ".join(part for part in [description, f"({'; '.join(extra)})" if extra else ""] if part)
        if text:
            lines += textwrap.wrap(text, width=96, initial_indent="        ", subsequent_indent="        ")
    return "\n".join(lines)


def wire_documents() -> dict[str, Any]:
    """The schema of every event and trigger message, by kind, with the subject it travels on."""
    from partout.events.notices import Rejection
    from partout.events.wire import wire_schemas
    from partout.wire.fleet import Control
    from partout.wire.triggers import FiredTrigger, TriggerReply, TriggerRequest

    where = {
        "event": "inside agents (an event before aggregation)",
        "event-batch": "partout.agent.<id>.events (JetStream, message id = batch_id)",
        "event-advice": "partout.agent.<id>.control, as Control {command: events, parameters: {advice: ...}}",
        "node-event": "partout.node.<agent id>.<module>.<status> (republished by the master)",
        "batch-counted": "partout.master.counted (between masters: each throttle counts every stored batch)",
    }
    documents: dict[str, Any] = {kind: {"subject": where.get(kind, ""), "schema": schema}
                                 for kind, schema in wire_schemas().items()}
    documents["control"] = {"subject": "partout.agent.<id>.control", "schema": Control.model_json_schema()}
    documents["trigger"] = {"subject": "partout.trigger.<name> (operators and trigger integrations; signed)",
                            "schema": TriggerRequest.model_json_schema()}
    documents["trigger-reply"] = {"subject": "_INBOX_<the signer's public key>.…",
                                  "schema": TriggerReply.model_json_schema()}
    documents["fired-trigger"] = {
        "subject": "partout.agent.<id>.control, as Control {command: trigger, parameters: {triggers: [...]}}",
        "schema": FiredTrigger.model_json_schema()}
    documents["event-rejection"] = {
        "subject": "partout.agent.<id>.control, as Control {command: events, parameters: {rejected: ...}}",
        "schema": Rejection.model_json_schema()}
    return documents


@click.command(name="doc", short_help="Show the options of every directive and built-in role, from their schemas.")
@click.argument("module", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON schemas instead of text.")
@click.option("--wire", is_flag=True, help="Print the JSON schemas of the event and trigger messages on the bus "
                                           "instead (what integrations read on partout.node.> and send on "
                                           "partout.trigger.<name>).")
@reports_errors
def command(module: str | None, as_json: bool, wire: bool) -> None:
    """Show every directive and built-in role (or MODULE, a module or role name) with each
    option's type, default and meaning.

    Generated from the option models: what you read is what the compiler checks.
    """
    if wire:
        click.echo(json.dumps(wire_documents(), indent=2, sort_keys=True))
        return
    modules, notes = load_modules(module)
    documents = [module_document(name, loaded) for name, loaded in modules.items()]
    documents += [role_document(name, options) for name, options in load_roles(module).items()
                  if name not in modules]
    if as_json:
        click.echo(json.dumps({document["name"]: document for document in documents}, indent=2))
    else:
        sections = [render_text(document) for document in documents]
        meta = ["every directive also takes:"] + [f"    {name}: {text}" for name, text in META_OPTIONS.items()]
        click.echo("\n\n".join([*sections, "\n".join(meta)]))
    for note in notes:
        click.echo(f"partout doc: {note}", err=True)
