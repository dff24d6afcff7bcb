"""Subcommands of the ``mediawatch`` console command (see mediawatch.cli)."""
