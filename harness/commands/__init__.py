"""``brownout`` subcommands that live in their own modules, registered on the group in
``harness.cli`` with one ``add_command`` line each (so parallel changes to the CLI stay apart)."""
