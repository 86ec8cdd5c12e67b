"""llmdeck's async core: adapters, router, monitor, metrics, ledger. Never imports Textual."""
