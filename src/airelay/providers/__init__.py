"""Upstream adapters: one per kind of upstream API. They know nothing of money."""
