"""The P2 policy language: `.p2` files are Python with `p2` (the builder) and `facts` in
scope; `partout.dsl.compiler.compile_policy` turns one into a validated `Catalog`."""
