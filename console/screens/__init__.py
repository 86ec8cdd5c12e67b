"""Modal screens and dialogs of the console: confirm, pull queue, model details, keys."""
