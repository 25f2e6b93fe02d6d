"""JSON Schemas of the request bodies that are not msgspec Structs: the client formats (the
subset of OpenAI, Anthropic and Gemini the gateway reads; the rest passes through), checkout,
the Stripe webhook, settings, and the error shapes.

Real enough that a generator makes both bodies the gateway accepts and bodies it refuses."""

from __future__ import annotations

from typing import Any

from airelay.formats.names import WHOLE, Endpoint
from airelay.surfaces.admin.settings import (
    MAX_ANNOUNCEMENT,
    MAX_LOGO_URL,
    MAX_NAME,
    MAX_TOPUP_INSTRUCTIONS,
)

Schema = dict[str, Any]

_TEXT: Schema = {"type": "string", "maxLength": 200}
_MODEL: Schema = {"type": "string", "minLength": 1, "maxLength": 200}
_TEMPERATURE: Schema = {"type": "number", "minimum": 0, "maximum": 2}
_TEXT_BLOCK: Schema = {
    "type": "object",
    "properties": {"type": {"const": "text"}, "text": _TEXT},
    "required": ["type", "text"],
}

OPENAI_CHAT: Schema = {
    "type": "object",
    "properties": {
        "model": _MODEL,
        "messages": {
            "type": "array",
            "minItems": 1,
            "maxItems": 4,
            "items": {
                "type": "object",
                "properties": {
                    "role": {"enum": ["system", "developer", "user", "assistant"]},
                    "content": {
                        "anyOf": [_TEXT, {"type": "array", "maxItems": 2, "items": _TEXT_BLOCK}]
                    },
                },
                "required": ["role", "content"],
            },
        },
        "stream": {"type": "boolean"},
        "stream_options": {
            "type": "object",
            "properties": {"include_usage": {"type": "boolean"}},
        },
        "max_tokens": {"type": "integer", "minimum": 1, "maximum": 4096},
        "max_completion_tokens": {"type": "integer", "minimum": 1, "maximum": 4096},
        "n": {"type": "integer", "minimum": 1, "maximum": 4},
        "temperature": _TEMPERATURE,
        "user": _TEXT,
    },
    "required": ["model", "messages"],
}

OPENAI_RESPONSES: Schema = {
    "type": "object",
    "properties": {
        "model": _MODEL,
        "input": {
            "anyOf": [
                {"type": "string", "minLength": 1, "maxLength": 200},
                {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 4,
                    "items": {
                        "type": "object",
                        "properties": {
                            "type": {"const": "message"},
                            "role": {"enum": ["system", "developer", "user", "assistant"]},
                            "content": _TEXT,
                        },
                        "required": ["role", "content"],
                    },
                },
            ]
        },
        "instructions": _TEXT,
        "stream": {"type": "boolean"},
        "store": {"type": "boolean"},
        "max_output_tokens": {"type": "integer", "minimum": 1, "maximum": 4096},
        "temperature": _TEMPERATURE,
        "metadata": {"type": "object", "additionalProperties": _TEXT, "maxProperties": 4},
        "prompt_cache_key": _TEXT,
    },
    "required": ["model", "input"],
}

OPENAI_RESPONSES_COMPACT: Schema = {
    "type": "object",
    "properties": {
        "model": _MODEL,
        "input": OPENAI_RESPONSES["properties"]["input"],
        "instructions": _TEXT,
        "prompt_cache_key": _TEXT,
    },
    "required": ["model", "input"],
}

_TOKENS: Schema = {
    "type": "array",
    "minItems": 1,
    "maxItems": 16,
    "items": {"type": "integer", "minimum": 0, "maximum": 200_000},
}

_IMAGE_FIELDS: Schema = {
    "model": _MODEL,
    "prompt": {"type": "string", "minLength": 1, "maxLength": 200},
    "n": {"type": "integer", "minimum": 1, "maximum": 4},
    "size": {"enum": ["256x256", "512x512", "1024x1024", "1536x1024", "1024x1536", "auto"]},
    "quality": {"enum": ["standard", "hd", "low", "medium", "high", "auto"]},
    "response_format": {"enum": ["url", "b64_json"]},
    "user": _TEXT,
}
OPENAI_IMAGES: Schema = {
    "type": "object",
    "properties": {
        **_IMAGE_FIELDS,
        "style": {"enum": ["vivid", "natural"]},
        "output_format": {"enum": ["png", "jpeg", "webp"]},
    },
    "required": ["model", "prompt"],
}
OPENAI_IMAGE_EDITS: Schema = {
    "type": "object",
    "properties": {
        **_IMAGE_FIELDS,
        "image": {"type": "string", "format": "binary"},
        "mask": {"type": "string", "format": "binary"},
    },
    "required": ["model", "prompt", "image"],
}

OPENAI_EMBEDDINGS: Schema = {
    "type": "object",
    "properties": {
        "model": _MODEL,
        "input": {
            "anyOf": [
                {"type": "string", "minLength": 1, "maxLength": 200},
                {"type": "array", "minItems": 1, "maxItems": 4, "items": {**_TEXT, "minLength": 1}},
                _TOKENS,
                {"type": "array", "minItems": 1, "maxItems": 4, "items": _TOKENS},
            ]
        },
        "encoding_format": {"enum": ["float", "base64"]},
        "dimensions": {"type": "integer", "minimum": 1, "maximum": 4096},
        "user": _TEXT,
    },
    "required": ["model", "input"],
}

_MEDIA: Schema = {
    "type": "object",
    "properties": {
        "type": {"enum": ["image_url", "video_url", "audio_url", "text"]},
        "image_url": {"type": "object", "properties": {"url": {"type": "string"}}},
        "role": {
            "enum": [
                "first_frame",
                "last_frame",
                "reference_image",
                "reference_video",
                "reference_audio",
            ]
        },
    },
    "required": ["type"],
}
VIDEO_GENERATION: Schema = {
    "type": "object",
    "properties": {
        "model": _MODEL,
        "prompt": {"type": "string", "maxLength": 10000},
        "duration": {"type": "integer", "minimum": 1, "maximum": 60},
        "resolution": {"type": "string", "pattern": "^[0-9]{3,4}[pP]$"},
        "size": {"type": "string", "pattern": "^[0-9]{2,5}[x*][0-9]{2,5}$"},
        "aspect_ratio": {"type": "string", "pattern": "^[0-9]{1,2}:[0-9]{1,2}$"},
        "seed": {"type": "integer", "minimum": -1, "maximum": 4294967295},
        "content": {"type": "array", "maxItems": 10, "items": _MEDIA},
    },
    "required": ["model"],
}
OPENAI_VIDEO: Schema = {
    "type": "object",
    "properties": {
        "model": _MODEL,
        "prompt": {"type": "string", "minLength": 1, "maxLength": 10000},
        "seconds": {"type": "string", "pattern": "^[0-9]{1,2}$"},
        "size": {"type": "string", "pattern": "^[0-9]{2,5}x[0-9]{2,5}$"},
        "input_reference": {"type": "object", "properties": {"image_url": {"type": "string"}}},
    },
    "required": ["model", "prompt"],
}


RERANK: Schema = {
    "type": "object",
    "properties": {
        "model": _MODEL,
        "query": {"type": "string", "minLength": 1, "maxLength": 200},
        "documents": {
            "type": "array",
            "minItems": 1,
            "maxItems": 4,
            "items": {
                "anyOf": [
                    _TEXT,
                    {"type": "object", "properties": {"text": _TEXT}, "required": ["text"]},
                ]
            },
        },
        "top_n": {"type": "integer", "minimum": 1, "maximum": 100},
        "return_documents": {"type": "boolean"},
    },
    "required": ["model", "query", "documents"],
}

OPENAI_SPEECH: Schema = {
    "type": "object",
    "properties": {
        "model": _MODEL,
        "input": {"type": "string", "minLength": 1, "maxLength": 4096},
        "voice": _MODEL,
        "response_format": {"enum": ["mp3", "opus", "aac", "flac", "wav", "pcm"]},
        "speed": {"type": "number", "minimum": 0.25, "maximum": 4},
        "instructions": _TEXT,
        "stream_format": {"const": "audio"},
    },
    "required": ["model", "input", "voice"],
}

OPENAI_TRANSCRIPTION: Schema = {
    "type": "object",
    "properties": {
        "file": {"type": "string", "contentMediaType": "application/octet-stream"},
        "model": _MODEL,
        "language": _TEXT,
        "prompt": _TEXT,
        "response_format": {"enum": ["json", "text", "srt", "verbose_json", "vtt"]},
        "temperature": {"type": "number", "minimum": 0, "maximum": 1},
        # Transcriptions only, not with srt or vtt (a 400): answered as server-sent events,
        # also when the upstream model answers whole (whisper-1).
        "stream": {"type": "boolean"},
    },
    "required": ["file", "model"],
}

_ANTHROPIC_MESSAGES: Schema = {
    "type": "array",
    "minItems": 1,
    "maxItems": 4,
    "items": {
        "type": "object",
        "properties": {
            "role": {"enum": ["user", "assistant"]},
            "content": {"anyOf": [_TEXT, {"type": "array", "maxItems": 2, "items": _TEXT_BLOCK}]},
        },
        "required": ["role", "content"],
    },
}

ANTHROPIC_MESSAGES: Schema = {
    "type": "object",
    "properties": {
        "model": _MODEL,
        "messages": _ANTHROPIC_MESSAGES,
        "max_tokens": {"type": "integer", "minimum": 1, "maximum": 4096},
        "system": {"anyOf": [_TEXT, {"type": "array", "maxItems": 2, "items": _TEXT_BLOCK}]},
        "stream": {"type": "boolean"},
        "temperature": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "required": ["model", "messages", "max_tokens"],
}

ANTHROPIC_COUNT_TOKENS: Schema = {
    "type": "object",
    "properties": {"model": _MODEL, "messages": _ANTHROPIC_MESSAGES, "system": _TEXT},
    "required": ["model", "messages"],
}

_GEMINI_CONTENTS: Schema = {
    "type": "array",
    "minItems": 1,
    "maxItems": 4,
    "items": {
        "type": "object",
        "properties": {
            "role": {"enum": ["user", "model"]},
            "parts": {
                "type": "array",
                "minItems": 1,
                "maxItems": 2,
                "items": {"type": "object", "properties": {"text": _TEXT}, "required": ["text"]},
            },
        },
        "required": ["parts"],
    },
}

GEMINI_GENERATE: Schema = {
    "type": "object",
    "properties": {
        "contents": _GEMINI_CONTENTS,
        "systemInstruction": {
            "type": "object",
            "properties": {"parts": _GEMINI_CONTENTS["items"]["properties"]["parts"]},
        },
        "generationConfig": {
            "type": "object",
            "properties": {
                "maxOutputTokens": {"type": "integer", "minimum": 1, "maximum": 4096},
                "temperature": _TEMPERATURE,
                "candidateCount": {"type": "integer", "minimum": 1, "maximum": 4},
            },
        },
    },
    "required": ["contents"],
}

GEMINI_COUNT_TOKENS: Schema = {
    "type": "object",
    "properties": {
        "contents": _GEMINI_CONTENTS,
        "generateContentRequest": GEMINI_GENERATE,
    },
}

_GEMINI_EMBED_ONE: Schema = {
    "type": "object",
    "properties": {
        "model": {"type": "string"},
        "content": {
            "type": "object",
            "properties": {
                "parts": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "properties": {"text": {"type": "string", "maxLength": 2000}},
                        "required": ["text"],
                    },
                }
            },
            "required": ["parts"],
        },
        "taskType": {"type": "string"},
        "title": {"type": "string"},
        "outputDimensionality": {"type": "integer", "minimum": 1, "maximum": 4096},
    },
    "required": ["content"],
}

GEMINI_EMBED_CONTENT: Schema = _GEMINI_EMBED_ONE

GEMINI_BATCH_EMBED_CONTENTS: Schema = {
    "type": "object",
    "properties": {
        "requests": {"type": "array", "minItems": 1, "maxItems": 250, "items": _GEMINI_EMBED_ONE}
    },
    "required": ["requests"],
}

CHECKOUT: Schema = {
    "type": "object",
    "properties": {
        "amount": {"anyOf": [{"type": "number"}, {"type": "string"}]},
        "success_url": {"type": "string", "format": "uri", "maxLength": 2048},
        "cancel_url": {"type": "string", "format": "uri", "maxLength": 2048},
    },
    "required": ["amount"],
}

REDEEM: Schema = {
    "type": "object",
    "properties": {"code": {"type": "string", "minLength": 1, "maxLength": 100}},
    "required": ["code"],
}

STRIPE_EVENT: Schema = {
    "type": "object",
    "description": "A Stripe event, authenticated by the Stripe-Signature header.",
    "properties": {
        "id": {"type": "string"},
        "type": {"type": "string"},
        "data": {"type": "object", "properties": {"object": {"type": "object"}}},
    },
    "required": ["id", "type", "data"],
}

_LIMITS: Schema = {
    name: {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
    for name in ("requests_per_minute", "tokens_per_minute", "requests_per_day", "max_concurrency")
}
_SCOPE: Schema = {"type": "object", "properties": _LIMITS, "additionalProperties": False}

SETTINGS_PATCH: Schema = {
    "type": "object",
    "properties": {
        "system_name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
        # The console's header logo: an https:// URL or a path on this host ("": none).
        "logo_url": {"type": "string", "maxLength": MAX_LOGO_URL},
        # Plain text the console shows: a banner for every signed-in user, and how to pay
        # where Stripe is not configured ("": nothing).
        "announcement": {"type": "string", "maxLength": MAX_ANNOUNCEMENT},
        "topup_instructions": {"type": "string", "maxLength": MAX_TOPUP_INSTRUCTIONS},
        "features": {
            "type": "object",
            "properties": {
                # No sign-up exists yet, and balances are in USD only: nothing else is taken.
                "registration_enabled": {"enum": [False]},
                "maintenance_mode": {"type": "boolean"},
                "default_currency": {"enum": ["USD"]},
            },
            "additionalProperties": False,
        },
        "rate_limits": {
            "type": "object",
            "properties": {
                **_LIMITS,
                # Per user of a group, per user on a model: ``relay.limit_policy``.
                "groups": {"type": "object", "additionalProperties": _SCOPE},
                "models": {"type": "object", "additionalProperties": _SCOPE},
            },
            "additionalProperties": False,
        },
        "group_multipliers": {
            "type": "object",
            # null: the group's multiplier goes (a patch merges into the stored ones).
            "additionalProperties": {
                "type": ["number", "null"],
                "exclusiveMinimum": 0,
                "maximum": 100,
            },
        },
    },
    "additionalProperties": False,
}

CHANNEL_TEST: Schema = {
    "type": "object",
    "properties": {
        "model": _MODEL,
        # The endpoint to probe (chat, embeddings); the channel's first when left out.
        "endpoint": {"enum": [e.value for e in Endpoint if e not in WHOLE]},
    },
}

OPENAI_ERROR: Schema = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "code": {"type": ["integer", "string", "null"]},
            },
            "required": ["message", "type"],
        }
    },
    "required": ["error"],
}
ANTHROPIC_ERROR: Schema = {
    "type": "object",
    "properties": {
        "type": {"const": "error"},
        "error": {
            "type": "object",
            "properties": {"type": {"type": "string"}, "message": {"type": "string"}},
            "required": ["type", "message"],
        },
    },
    "required": ["type", "error"],
}
GEMINI_ERROR: Schema = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "integer"},
                "message": {"type": "string"},
                "status": {"type": "string"},
            },
            "required": ["code", "message"],
        }
    },
    "required": ["error"],
}
