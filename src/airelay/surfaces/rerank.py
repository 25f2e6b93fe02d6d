"""``POST /v1/rerank``: the Jina/Cohere-style rerank face of the relay.

The body is checked (400 in OpenAI's error shape), the key must hold the ``rerank``
permission, and the call goes through the same pipeline as every endpoint: routed to the
channels that serve rerank for the model (passed through to a Jina/Cohere-style upstream,
translated for DashScope's native one), priced on its input tokens, counted offline when the
upstream reports none.
"""

from __future__ import annotations

from airelay.formats import rerank
from airelay.formats.names import Endpoint, WireFormat
from airelay.surfaces.json_call import json_relay

PATH = "/v1/rerank"

rerank_documents = json_relay(
    client=WireFormat.RERANK,
    endpoint=Endpoint.RERANK,
    permission="rerank",
    path=PATH,
    check=rerank.check_request,
)
