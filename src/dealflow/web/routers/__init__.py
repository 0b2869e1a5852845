"""One router module per resource of the REST API, all mounted under /api."""
