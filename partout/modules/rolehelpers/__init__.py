"""Helpers shared by the built-in roles (`partout/roles/*.p2`) and the small modules they
wrap: in-place text edits, the policy folder of a role's caller, env-file syntax."""
