"""Transports: how a request reaches an upstream. ``base`` holds the interface,
``choice.Transports`` picks one per channel, ``options`` checks a channel's proxy and TLS
options, ``proxied`` is the transport for channels behind a proxy; the direct path is the
own client (``airelay.client``).

Nothing is imported here: the store imports ``options`` and ``choice`` imports the store."""
