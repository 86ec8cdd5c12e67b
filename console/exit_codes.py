"""The exit statuses of every `llmdeck` command (INTERFACE.md): scripts branch on them."""

EXIT_OK = 0
EXIT_FAILED = 1
"""The operation failed: unreachable, every hop failed, a data dir that cannot be used."""
EXIT_USAGE = 2
"""Bad usage or a bad config."""
