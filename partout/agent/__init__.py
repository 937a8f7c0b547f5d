"""The agent daemon: identity, enrolment, policy sync, runs and reports.

Kept import-free so that importing one agent part does not load the others."""
