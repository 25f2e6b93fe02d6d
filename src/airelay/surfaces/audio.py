"""``POST /v1/audio/speech``, ``/v1/audio/transcriptions`` and ``/v1/audio/translations``:
OpenAI's audio faces of the relay, all under the key's ``audio`` permission.

Speech takes JSON and answers audio: the upstream's bytes are copied to the client as they
come, with the upstream's content type, and the call is billed by the characters read
aloud (known before the call, so reserved exactly).

Transcriptions and translations take a ``multipart/form-data`` upload, passed upstream as
the bytes the client sent: the form is read only where it lies, for the model (routing),
the checks and the file's duration (``formats.audio_duration``: what is billed, per second,
unless the upstream reports its own). A transcription with ``stream=true`` is answered with
the upstream's events as they come, billed on the usage its last event reports
(``formats.transcription_stream``); an upstream that answers it whole (whisper-1, whatever
public name leads there) has its answer told as those events, billed as the whole answer.
An upload above ``max_audio_upload_bytes`` is refused with 413 before its body is read
when it declares its length.
"""

from __future__ import annotations

from aiohttp import web

from airelay.errors import GatewayError
from airelay.formats import openai_speech, openai_transcription
from airelay.formats.names import Endpoint, WireFormat
from airelay.relay.auth import authenticate, authorize, extract_key
from airelay.relay.call import Call
from airelay.relay.pipeline import run_call
from airelay.state import REQUEST_ID, STATE
from airelay.surfaces.json_call import json_relay
from airelay.surfaces.relay_response import respond

SPEECH = "/v1/audio/speech"
TRANSCRIPTIONS = "/v1/audio/transcriptions"
TRANSLATIONS = "/v1/audio/translations"


# The audio's bytes as they come (stream); the input's characters known from the request.
speech = json_relay(
    client=WireFormat.OPENAI_SPEECH,
    endpoint=Endpoint.SPEECH,
    permission="audio",
    path=SPEECH,
    check=openai_speech.check_request,
    stream=True,
    known=openai_speech.billed,
)


async def transcriptions(request: web.Request) -> web.StreamResponse:
    return await _upload(request, Endpoint.TRANSCRIPTIONS, TRANSCRIPTIONS, streams=True)


async def translations(request: web.Request) -> web.StreamResponse:
    return await _upload(request, Endpoint.TRANSLATIONS, TRANSLATIONS, streams=False)


async def _upload(
    request: web.Request, endpoint: Endpoint, path: str, *, streams: bool
) -> web.StreamResponse:
    state = request.app[STATE]
    snapshot = state.cache.current
    record = authenticate(
        snapshot, extract_key(request.headers, request.query), remote=request.remote
    )
    # The permission before the upload is read: a key that may not call it sends no 25 MB.
    authorize(record, permission="audio", model=None, remote=request.remote)
    limit = state.settings.max_audio_upload_bytes
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    body = await request.read()
    if len(body) > limit:
        raise _too_large(limit)
    try:
        upload = openai_transcription.check_form(
            body, request.headers.get("Content-Type", ""), streams=streams
        )
    except ValueError as exc:
        raise GatewayError(400, str(exc)) from exc
    authorize(record, permission="audio", model=upload.model, remote=request.remote)
    call = Call(
        client=WireFormat.OPENAI_TRANSCRIPTION,
        endpoint=endpoint,
        model=upload.model,
        stream=openai_transcription.wants_stream(upload.fields),
        body=body,
        payload=upload.fields,
        ir=None,
        path=path,
        request_id=request[REQUEST_ID],
        known=upload.usage,
        content_type=request.headers["Content-Type"],
    )
    outcome = await run_call(state.relay, snapshot, record, call)
    return await respond(request, outcome)


def _too_large(limit: int) -> GatewayError:
    return GatewayError(
        413, f"The audio upload is larger than this gateway's limit of {limit} bytes."
    )
