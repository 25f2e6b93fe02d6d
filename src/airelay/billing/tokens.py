"""Offline token counts: for ``count_tokens`` endpoints, for calls whose upstream reports no
usage (a stream the client abandoned), and for the worst case a call may reserve.

Counts use OpenAI's published BPE encodings (``tokenizer``: loaded lazily, never downloaded).
Where a model family's tokenizer is not public, the ``o200k_base`` count is scaled by a
factor measured against that family's own counts, rounded up so that errors lean towards
more tokens:

==========================  ===========  ======  =========================================
family (model name)         encoding     factor  source; expected error
==========================  ===========  ======  =========================================
OpenAI gpt-4o, gpt-4.1,     o200k_base   1.00    exact (tiktoken's model table); chat
gpt-4.5, gpt-5, o1/o3/o4,                        framing is ``count_messages``'s estimate
gpt-oss, codex, default
OpenAI gpt-4, gpt-3.5,      cl100k_base  1.00    exact
text-embedding-3/ada-002
Claude up to 4.6            o200k_base   1.20    1.10-1.18x o200k on English and code
(claude-3*, *-4, 4.1-4.6)                        (count_tokens comparisons: sammcj/ingest
                                                 #65 calibrated 1.18, Arize-ai/phoenix
                                                 #2668 ~10%); error about -5%..+10%
Claude Opus 4.7 and later,  o200k_base   1.60    Anthropic: the new tokenizer uses 1.0-1.35x
Claude 5, unversioned                            the tokens of 4.6; measured 1.45x English,
                                                 1.15-1.3x code, 1.0x CJK (claudecodecamp,
                                                 sol.ava.dev, 2026-04) on top of 1.18 ->
                                                 1.4-1.7x o200k; error about -8%..+35% (CJK)
Gemini, Gemma               o200k_base   1.10    Google: ~4 chars per token; 5-10% more
                                                 than o200k on English, fewer on CJK
                                                 (techcompare.app); error about 0..+25%
DeepSeek, Qwen/QwQ, GLM,    o200k_base   1.10    128-160 K byte-level BPEs close to o200k
Kimi/Moonshot                                    on English; better on CJK (DeepSeek
                                                 documents 0.6 token per Chinese char,
                                                 o200k gives 0.68): error about -5%..+25%
anything else               o200k_base   1.00    unknown tokenizer; typically within 15%
==========================  ===========  ======  =========================================

``count_messages`` adds OpenAI's chat framing (3 tokens a message plus its role, and 3 to
prime the reply, from OpenAI's cookbook ``num_tokens_from_messages``) and fixed estimates
for non-text parts, which are not scaled:

- an image is ``IMAGE_TOKENS`` = 765: OpenAI's high-detail cost of a 1024x1024 image
  (85 + 4 tiles x 170). Low detail is 85; Gemini charges 258 per small image or 768-px
  tile; Claude about width x height / 750, up to ~1,600 for a 1.15-megapixel image.
- audio is ``AUDIO_TOKENS_PER_SECOND`` = 32 (Gemini's documented rate; OpenAI's audio
  models use about 10) over a duration guessed from its size (``_AUDIO_BYTES_PER_SECOND``).
- a tool definition is the JSON of its name, description and parameter schema (OpenAI
  renders tools more compactly, so this errs high); a tool call is its name and arguments.

Counts for billing never stall the event loop. Counting is CPU work: 16 K characters take
0.7 ms of English, 5 ms of Chinese and 9 ms of varied Unicode, and a prompt may be megabytes;
building an encoding holds the GIL for 0.1-0.4 s and keeps ~70 MB for both. So the serving
process hands counts to a child process started on the first count and retired when idle
(``counter``); the loop only awaits the answer. The count stays exact: no sampling a long
text, which a caller could game. Should the child be unavailable, counts run in a worker
thread of this process (the encoding then loads there once), short ones inline once loaded.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from airelay.billing import counter, tokenizer
from airelay.billing.tokenizer import EncodingName, TokenizerUnavailable
from airelay.formats.ir import (
    Audio,
    ChatRequest,
    Image,
    Part,
    Reasoning,
    Text,
    ToolCall,
    ToolResult,
)

log = logging.getLogger(__name__)

PER_MESSAGE = 3
ROLE_TOKENS = 1  # "system", "user", "assistant" and "tool" are one token each
REPLY_PRIMING = 3
IMAGE_TOKENS = 765
AUDIO_TOKENS_PER_SECOND = 32
_AUDIO_BYTES_PER_SECOND = {"wav": 32_000}  # 16 kHz 16-bit mono
_AUDIO_DEFAULT_BYTES_PER_SECOND = 16_000  # 128 kbit/s MP3 and the like


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    encoding: EncodingName
    percent: int  # of the encoding's count, rounded up
    exact: bool

    def scale(self, tokens: int) -> int:
        return tokens if self.percent == 100 else -(-tokens * self.percent // 100)


OPENAI_O200K = Family("openai-o200k", "o200k_base", 100, exact=True)
OPENAI_CL100K = Family("openai-cl100k", "cl100k_base", 100, exact=True)
CLAUDE = Family("claude", "o200k_base", 120, exact=False)
CLAUDE_47 = Family("claude-4.7+", "o200k_base", 160, exact=False)
GEMINI = Family("gemini", "o200k_base", 110, exact=False)
OPEN_WEIGHTS_CJK = Family("deepseek-qwen-glm-kimi", "o200k_base", 110, exact=False)
DEFAULT = Family("default", "o200k_base", 100, exact=False)

_O200K_PREFIXES = ("gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "gpt-oss", "codex")
_O_SERIES = re.compile(r"o\d+(?:-|$)")
_CL100K_PREFIXES = (
    "gpt-4",
    "gpt-3.5",
    "gpt-35",
    "text-embedding-3",
    "text-embedding-ada-002",
    "davinci-002",
    "babbage-002",
)
_SUBSTRING_FAMILIES = (
    (("gemini", "gemma"), GEMINI),
    (("deepseek", "qwen", "qwq", "glm", "kimi", "moonshot"), OPEN_WEIGHTS_CJK),
)
_NEW_CLAUDE_TOKENIZER = (4, 7)


def family_of(model: str | None) -> Family:
    """The tokenizer family of ``model``: provider prefixes (``openai/``, ``models/``,
    Bedrock's ``anthropic.``) and case are ignored."""
    if not model:
        return DEFAULT
    name = model.strip().lower().rsplit("/", 1)[-1].removeprefix("ft:")
    if name.startswith(_O200K_PREFIXES) or _O_SERIES.match(name):
        return OPENAI_O200K
    if name.startswith(_CL100K_PREFIXES):
        return OPENAI_CL100K
    if "claude" in name:
        version = _claude_version(name)
        return CLAUDE if version is not None and version < _NEW_CLAUDE_TOKENIZER else CLAUDE_47
    for needles, family in _SUBSTRING_FAMILIES:
        if any(needle in name for needle in needles):
            return family
    return DEFAULT


def _claude_version(name: str) -> tuple[int, ...] | None:
    """(3, 5) for ``claude-3-5-sonnet-20241022``, (4, 7) for ``claude-opus-4-7``, (4,) for
    ``claude-sonnet-4-20250514``: the first run of short numbers after ``claude``."""
    words = re.split(r"[-._:@]", name.split("claude", 1)[1])
    version: list[int] = []
    for word in words:
        if word.isdigit() and len(word) <= 2:
            version.append(int(word))
        elif version:
            break
    return tuple(version) or None


def count_text(text: str, model: str | None = None) -> int:
    """Tokens in ``text`` for ``model`` (exact for OpenAI models, scaled otherwise). Raises
    ``TokenizerUnavailable`` if the encoding cannot be loaded."""
    if not text:
        return 0
    family = family_of(model)
    return family.scale(tokenizer.count(text, family.encoding))


_warned = False


def estimate_tokens(text: str, model: str | None = None) -> int:
    """``count_text``, for billing: it never fails. Should the encodings be missing (a broken
    install), it falls back to one token per four ASCII characters plus one per other
    character, and logs that once."""
    global _warned
    if not text:
        return 0
    try:
        return count_text(text, model)
    except TokenizerUnavailable as exc:
        if not _warned:
            _warned = True
            log.error("token counts fall back to a character estimate: %s", exc)
        return _char_estimate(text)


# At most this many characters in all are counted at once on the loop, when the encoding
# is loaded in this process (only after the counting process failed): ~1 ms of the slowest
# text measured (varied Unicode), ~0.1 ms of English.
INLINE_CHARS = 2048

_pending: set[asyncio.Future[list[int]]] = set()


def estimate_tokens_then(
    texts: Sequence[str], model: str | None, then: Callable[[list[int]], object]
) -> None:
    """Call ``then`` with ``estimate_tokens`` of each of ``texts``, on the event loop, without
    stalling it: counted by the counting process (``counter``), or at once when the texts
    are short and their encoding is loaded here; ``settled()`` waits for those in flight.
    ``then`` is called exactly once, whatever happens (a failed count falls back to the
    character estimate)."""
    family = family_of(model)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # no loop: a synchronous caller
        then(_estimate_all(tuple(texts), model))
        return
    if sum(map(len, texts)) <= INLINE_CHARS and tokenizer.is_ready(family.encoding):
        then([estimate_tokens(text, model) for text in texts])
        return
    task = loop.create_task(_count_scaled(tuple(texts), family))
    _pending.add(task)
    task.add_done_callback(functools.partial(_deliver, then, tuple(texts)))


async def count_texts(texts: Sequence[str], encoding: EncodingName) -> list[int]:
    """``encoding``'s token count of each of ``texts``, off the event loop: in the counting
    process, or, when it is unavailable, in a worker thread of this one. Raises
    ``TokenizerUnavailable`` if the encoding cannot be loaded at all."""
    wanted = [text for text in texts if text]
    counted: list[int] = []
    if wanted:
        try:
            counted = await counter.COUNTER.count(encoding, wanted)
        except counter.CounterUnavailable:
            counted = await asyncio.to_thread(
                lambda: [tokenizer.count(text, encoding) for text in wanted]
            )
    answers = iter(counted)
    return [next(answers) if text else 0 for text in texts]


async def _count_scaled(texts: tuple[str, ...], family: Family) -> list[int]:
    return [family.scale(count) for count in await count_texts(texts, family.encoding)]


def _estimate_all(texts: tuple[str, ...], model: str | None) -> list[int]:
    return [estimate_tokens(text, model) for text in texts]


def _deliver(
    then: Callable[[list[int]], object],
    texts: tuple[str, ...],
    future: asyncio.Future[list[int]],
) -> None:
    _pending.discard(future)
    failure = "cancelled" if future.cancelled() else future.exception()
    if failure is None:
        then(future.result())
    else:
        log.error("a token count failed (%r); billing the character estimate", failure)
        then([_char_estimate(text) for text in texts])


async def settled() -> None:
    """Wait until every count this event loop handed off has called back, then retire the
    counting process (at shutdown, before the last usage is written)."""
    loop = asyncio.get_running_loop()
    mine = [future for future in _pending if future.get_loop() is loop]
    if mine:
        await asyncio.wait(mine)
    await counter.COUNTER.close()


def _char_estimate(text: str) -> int:
    ascii_chars = len(text.encode("ascii", "ignore"))
    return -(-ascii_chars // 4) + (len(text) - ascii_chars)


def prompt_upper_bound(body_bytes: int, bytes_per_token: int = 3) -> int:
    """A generous bound on the prompt tokens of a request body of ``body_bytes`` bytes:
    three bytes per token covers CJK text (three UTF-8 bytes, about one token per char)
    and over-covers English (about four characters per token); a format whose body may
    be denser (token ids: two bytes each) says so with ``bytes_per_token``."""
    return -(-body_bytes // bytes_per_token)


async def count_messages(request: ChatRequest) -> int:
    """Prompt tokens of ``request`` for its model: messages with OpenAI's chat framing, tool
    definitions and a JSON response schema. Exact text counts for OpenAI models; the
    framing and non-text parts are estimates (see the module docstring). Counted off the
    event loop (``count_texts``); raises ``TokenizerUnavailable`` if the encoding cannot
    be loaded."""
    family = family_of(request.model)
    fixed, texts = message_texts(request)
    return fixed + family.scale(sum(await count_texts(texts, family.encoding)))


def message_texts(request: ChatRequest) -> tuple[int, list[str]]:
    """The fixed (framing and non-text) tokens of ``request`` and the texts to count."""
    texts: list[str] = []
    fixed = REPLY_PRIMING
    for message in request.messages:
        fixed += PER_MESSAGE + ROLE_TOKENS
        for part in message.parts:
            fixed += _collect(part, texts)
    for tool in request.tools or ():
        definition: dict[str, Any] = {"name": tool.name}
        if tool.description:
            definition["description"] = tool.description
        definition["parameters"] = tool.parameters
        texts.append(_json(definition))
    if request.response_format:
        texts.append(_json(request.response_format))
    return fixed, texts


def _collect(part: Part | Text | Image, texts: list[str]) -> int:
    """Append the text of ``part`` to ``texts``; return its fixed (non-text) tokens."""
    if isinstance(part, Text | Reasoning):
        texts.append(part.text)
    elif isinstance(part, ToolCall):
        texts.append(part.name)
        texts.append(part.arguments)
    elif isinstance(part, ToolResult):
        if part.name:
            texts.append(part.name)
        return sum(_collect(item, texts) for item in part.content)
    elif isinstance(part, Image):
        return IMAGE_TOKENS
    elif isinstance(part, Audio):
        return audio_tokens(part)
    return 0


def audio_tokens(audio: Audio) -> int:
    """An estimate from the size of the base64 data: its duration at a typical bit rate for
    ``audio.format``, times ``AUDIO_TOKENS_PER_SECOND``; at least one second."""
    size = len(audio.data) * 3 // 4
    rate = _AUDIO_BYTES_PER_SECOND.get(audio.format.lower(), _AUDIO_DEFAULT_BYTES_PER_SECOND)
    seconds = max(1, -(-size // rate))
    return seconds * AUDIO_TOKENS_PER_SECOND


def _json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()
