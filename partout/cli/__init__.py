"""The `partout` command: one entry point, one file per subcommand."""
