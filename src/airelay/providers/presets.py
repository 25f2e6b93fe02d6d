"""Channel types: the adapter each one uses, with default base URL and model list.

DeepSeek, Qwen (DashScope compatible mode, plus its native rerank and image synthesis:
``providers.dashscope``), SiliconFlow (its own rerank shape), GLM (Zhipu), Kimi (Moonshot),
Doubao (Volcengine Ark), MiniMax and xAI are presets of the OpenAI-compatible adapter;
Anthropic, Gemini and AWS Bedrock (Anthropic models, signed requests) and Ollama (its native
API, streamed as NDJSON, a key optional) have adapters of their own, and so have the clouds
whose credentials are short-lived tokens: Google Vertex AI (``vertex`` for Gemini,
``vertex_anthropic`` for Claude: their wire formats differ) and Azure OpenAI (``azure``: an
API key or Entra ID). A type whose ``base_url`` is the channel's own (a Vertex project) has
none by default: the channel must name one.
"""

from __future__ import annotations

from dataclasses import dataclass

from airelay.providers.anthropic import Anthropic
from airelay.providers.azure import Azure
from airelay.providers.base import Provider
from airelay.providers.bedrock import Bedrock
from airelay.providers.dashscope import DashScope, DashScopeNative
from airelay.providers.gemini import Gemini
from airelay.providers.ollama import Ollama
from airelay.providers.openai import OpenAICompatible, SiliconFlow
from airelay.providers.vertex import Vertex, VertexAnthropic
from airelay.providers.video_base import TasksOnly
from airelay.providers.video_kling import check_kling_key
from airelay.providers.viking import VikingKnowledge


@dataclass(frozen=True, slots=True)
class Preset:
    provider: Provider
    base_url: str  # "" when every channel of the type must give its own
    models: tuple[str, ...]


_OPENAI = OpenAICompatible()
_ANTHROPIC = Anthropic()
_GEMINI = Gemini()
_BEDROCK = Bedrock()
_OLLAMA = Ollama()
_DASHSCOPE = DashScope()

PRESETS: dict[str, Preset] = {
    "openai": Preset(
        _OPENAI,
        "https://api.openai.com/v1",
        ("gpt-4.1", "gpt-4.1-mini", "gpt-4o", "gpt-4o-mini"),
    ),
    "deepseek": Preset(
        _OPENAI, "https://api.deepseek.com/v1", ("deepseek-chat", "deepseek-reasoner")
    ),
    "qwen": Preset(
        _DASHSCOPE,
        "https://dashscope.aliyuncs.com/compatible-mode/v1",
        ("qwen-max", "qwen-plus", "qwen-turbo", "qwen-long"),
    ),
    "glm": Preset(
        _OPENAI,
        "https://open.bigmodel.cn/api/paas/v4",
        ("glm-4-plus", "glm-4-air", "glm-4-flash"),
    ),
    "kimi": Preset(
        _OPENAI,
        "https://api.moonshot.cn/v1",
        ("moonshot-v1-8k", "moonshot-v1-32k", "moonshot-v1-128k", "kimi-k2-0905-preview"),
    ),
    "doubao": Preset(
        _OPENAI,
        "https://ark.cn-beijing.volces.com/api/v3",
        ("doubao-seed-1-6-250615", "doubao-1-5-pro-32k-250115"),
    ),
    "siliconflow": Preset(
        SiliconFlow(),
        "https://api.siliconflow.cn/v1",
        ("deepseek-ai/DeepSeek-V3", "Qwen/Qwen3-8B", "BAAI/bge-reranker-v2-m3"),
    ),
    # Volcengine's knowledge service: the Doubao rerank models (signed with an access key).
    "vikingdb": Preset(
        VikingKnowledge(),
        "https://api-knowledgebase.mlp.cn-beijing.volces.com",
        ("doubao-seed-rerank", "base-multilingual-rerank", "m3-v2-rerank"),
    ),
    "minimax": Preset(_OPENAI, "https://api.minimax.io/v1", ("MiniMax-M2", "MiniMax-Text-01")),
    "xai": Preset(_OPENAI, "https://api.x.ai/v1", ("grok-4", "grok-3", "grok-3-mini")),
    "anthropic": Preset(
        _ANTHROPIC,
        "https://api.anthropic.com",
        ("claude-sonnet-4-6", "claude-opus-4-1", "claude-haiku-4-5"),
    ),
    "gemini": Preset(
        _GEMINI,
        "https://generativelanguage.googleapis.com",
        ("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite"),
    ),
    "bedrock": Preset(
        _BEDROCK,
        "https://bedrock-runtime.us-east-1.amazonaws.com",
        (
            "anthropic.claude-sonnet-4-5-20250929-v1:0",
            "anthropic.claude-haiku-4-5-20251001-v1:0",
            "anthropic.claude-opus-4-1-20250805-v1:0",
        ),
    ),
    # Google Vertex AI: base_url https://REGION-aiplatform.googleapis.com/v1/projects/
    # PROJECT/locations/REGION, keys are service account JSON keys (providers.vertex).
    "vertex": Preset(Vertex(), "", ("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite")),
    "vertex_anthropic": Preset(
        VertexAnthropic(),
        "",
        ("claude-sonnet-4-5@20250929", "claude-haiku-4-5@20251001", "claude-opus-4-1@20250805"),
    ),
    # Azure OpenAI: base_url https://RESOURCE.openai.azure.com[?api-version=...] (models are
    # deployments) or .../openai/v1; an API key or Entra ID credentials (providers.azure).
    "azure": Preset(Azure(), "", ("gpt-4.1", "gpt-4.1-mini", "gpt-4o", "gpt-4o-mini")),
    "ollama": Preset(_OLLAMA, "http://127.0.0.1:11434", ("llama3.2", "qwen3", "gpt-oss:20b")),
    # Video task upstreams only (their protocols: providers.video_registry).
    "kling": Preset(
        TasksOnly(check_kling_key),
        "https://api-singapore.klingai.com",
        ("kling-v2-1", "kling-v1-6"),
    ),
    # DashScope's native API: Wan / Qwen image synthesis (relayed, its task polled per
    # call) and Wan video synthesis (video tasks: providers.video_dashscope); the chat and
    # rerank of the qwen type too, when its channel names them.
    "dashscope": Preset(
        DashScopeNative(),
        "https://dashscope.aliyuncs.com/api/v1",
        ("wan2.2-t2i-flash", "wan2.2-t2i-plus", "wan2.2-t2v-plus", "wan2.2-i2v-plus"),
    ),
}

CHANNEL_TYPES = tuple(PRESETS)


def preset(channel_type: str) -> Preset:
    """The preset of a channel type; raises KeyError for an unknown type."""
    return PRESETS[channel_type]
