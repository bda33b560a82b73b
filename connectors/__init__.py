"""Built-in connectors: one module per export format, registered under ``archiver.connectors``."""
