"""The master daemon: enrolment and approval, policy publisher, report ingest, store.

Kept import-free so that `partout agent` and the CLI do not pay for master code."""
