"""The P2 policy language: `.p2` files are Python with `p2` (the builder) and `facts` in
scope; `partout.dsl.compiler.compile_policy(path, facts, roles_dirs=())` turns one into a
validated `Catalog` (`compile_source(text, filename=..., facts=...)` from text).

Reference, in one place:

- `p2.<directive>(title, **options)` declares one resource per title (a title may be a
  list) and returns a chain: `p2.file(...).command(...)`. A directive is a module from
  `partout.modules.registry` or a role. The id is `module:title`.
- Meta-options on every directive: `require=` / `before=` (ids "module:title", or what
  a directive call returned, or a list), `on={"file:/x:changed": "action"}` (an action
  of the module, or "apply" for a normal check-and-apply), `onlyif=` / `unless=` (a shell
  command kept for the run, or a callable on facts decided now), `watch=`, `hidden=`.
- `with p2.node(selector):` bool, callable on facts, hostname regex, list of hostnames.
  Resources in blocks for other nodes are option-checked but left out; roles there are
  not expanded.
- `with p2.watch():` watch=True for the block.
- `p2.on(event, *handlers, action=None)`: handlers are `refresh_only` and listen to the
  event; as a block (`with p2.on(event):`), with resources already declared
  (`p2.on(event, p2.command(...))`) or with callables that declare them. The default
  action is the module's first one (command: "run", service: "restart"), else "apply".
- `p2.include("other.p2")`: relative to the including file, at most once per compile;
  cycles are errors.
- `p2.role("name", fn)` (or `@p2.role("name")`): `fn(p2, title, **options)`. Role files
  `NAME.p2` in the policy's `roles/` folder, in `roles_dirs`, then in `partout/roles/`,
  run with `p2`, `facts`, `title` and `options` in scope, loaded only when used.
  Meta-options of a role call apply to every resource the role declares.
- Errors are `PolicyError`s with file and line; a resource inside a role also names the
  line that called the role.
"""
