"""Running CareSpace as a service: health, request logs, metrics, backup and restore."""
