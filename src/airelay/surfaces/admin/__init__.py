"""The management API (``/v1/admin/*``), for ``mgmt-`` keys only."""
