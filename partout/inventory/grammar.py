"""The query grammar (Lark, LALR(1)): one table-driven pass, no backtracking, so parse
time is linear in the query's length whatever it contains.

Precedence, loosest first: `or`, `and`, `not`, then one comparison. `and`/`or` chains are
flat lists (no recursion for `a or b or c ...`).
"""

from __future__ import annotations

GRAMMAR = r"""
start: or_expr
path_only: path

// a single operand is inlined (`?`): parentheses and plain leaves add no tree depth
?or_expr: and_expr
        | and_expr (_OR and_expr)+       -> any_of
?and_expr: not_expr
         | not_expr (_AND not_expr)+     -> all_of
?not_expr: _NOT not_expr                 -> negation
         | atom
?atom: "(" or_expr ")"
     | path COMPARATOR literal           -> comparison
     | path _IN items                    -> membership
     | path _NOT _IN items               -> non_membership
     | path MATCHER STRING               -> regex_match
     | _EXISTS "(" path ")"              -> exists
     | TRUE                              -> constant
     | FALSE                             -> constant
     | path                              -> truth

path: NAME ("." (NAME | STRING))*
items: "[" [literal ("," literal)* [","]] "]"
literal: STRING | NUMBER | TRUE | FALSE | NULL

// keywords end where a name would: `andd` is a name, not `and` + `d`; and they win
// over NAME (priority 2) where both may come
_OR.2: /or(?![A-Za-z0-9_-])/
_AND.2: /and(?![A-Za-z0-9_-])/
_NOT.2: /not(?![A-Za-z0-9_-])/
_IN.2: /in(?![A-Za-z0-9_-])/
_EXISTS.2: /exists(?![A-Za-z0-9_-])/
TRUE.2: /true(?![A-Za-z0-9_-])/
FALSE.2: /false(?![A-Za-z0-9_-])/
NULL.2: /null(?![A-Za-z0-9_-])/
COMPARATOR: "==" | "!=" | "<=" | ">=" | "<" | ">"
MATCHER: "=~" | "!~"
NAME: /[A-Za-z_][A-Za-z0-9_-]*/
STRING: /"(?:[^"\\\n]|\\.)*"/ | /'(?:[^'\\\n]|\\.)*'/
NUMBER: /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/

%ignore /[ \t\r\n]+/
"""

# what a terminal is, in an error message ("expected a value")
TERMINAL_NAMES: dict[str, str] = {
    "NAME": "a fact name",
    "STRING": "a string",
    "NUMBER": "a number",
    "COMPARATOR": "a comparison (== != < <= > >=)",
    "MATCHER": "=~ or !~",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "DOT": "'.'",
    "_OR": "'or'",
    "_AND": "'and'",
    "_NOT": "'not'",
    "_IN": "'in'",
    "_EXISTS": "'exists'",
    "TRUE": "'true'",
    "FALSE": "'false'",
    "NULL": "'null'",
    "$END": "the end of the query",
}
