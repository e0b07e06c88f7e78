"""Error logging: ingestion of errors and metrics from every service, with per-minute rollups."""
