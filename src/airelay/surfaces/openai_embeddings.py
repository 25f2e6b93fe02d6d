"""``POST /v1/embeddings``: the OpenAI embeddings face of the relay.

The body is checked (400 in OpenAI's error shape), the key must hold the ``embeddings``
permission, and the call goes through the same pipeline as chat: routed to the channels
that serve embeddings for the model, priced on its input, passed through as bytes.
"""

from __future__ import annotations

from airelay.formats import openai_embeddings
from airelay.formats.names import Endpoint, WireFormat
from airelay.surfaces.json_call import json_relay

PATH = "/v1/embeddings"

embeddings = json_relay(
    client=WireFormat.OPENAI_EMBEDDINGS,
    endpoint=Endpoint.EMBEDDINGS,
    permission="embeddings",
    path=PATH,
    check=openai_embeddings.check_request,
)
