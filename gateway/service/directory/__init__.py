"""The resource directory (HSDS), transit (GTFS) and matching needs to services."""
