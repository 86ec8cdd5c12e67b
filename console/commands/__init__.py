"""Handlers of the headless subcommands; each module serves one command group."""
