"""Signal receivers of error_logging (filled in by the ingestion work)."""
