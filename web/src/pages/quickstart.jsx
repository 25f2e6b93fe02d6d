// Quick start: how to point each client at this gateway, with the address the page was opened
// at (the one the user reaches it by) and a placeholder key. The agent settings are the ones
// the README documents and the agent CLI tests run.
import { t } from "../i18n.js";
import { CopyButton } from "../widgets.jsx";

const KEY = "sk-your-key";
const MODEL = "your-model";

function snippets(origin) {
  return [
    {
      id: "curl",
      title: "cURL",
      code: `curl ${origin}/v1/chat/completions \\
  -H "Authorization: Bearer ${KEY}" \\
  -H "Content-Type: application/json" \\
  -d '{"model": "${MODEL}", "messages": [{"role": "user", "content": "Hello"}]}'`,
    },
    {
      id: "python",
      title: "Python (openai)",
      code: `# pip install openai
from openai import OpenAI

client = OpenAI(base_url="${origin}/v1", api_key="${KEY}")
reply = client.chat.completions.create(
    model="${MODEL}",
    messages=[{"role": "user", "content": "Hello"}],
)
print(reply.choices[0].message.content)`,
    },
    {
      id: "node",
      title: "Node (openai)",
      code: `// npm install openai
import OpenAI from "openai";

const client = new OpenAI({ baseURL: "${origin}/v1", apiKey: "${KEY}" });
const reply = await client.chat.completions.create({
  model: "${MODEL}",
  messages: [{ role: "user", content: "Hello" }],
});
console.log(reply.choices[0].message.content);`,
    },
    {
      id: "claude",
      title: "Claude Code",
      code: `export ANTHROPIC_BASE_URL=${origin}   # the gateway's root, no /v1
export ANTHROPIC_API_KEY=${KEY}   # (ANTHROPIC_AUTH_TOKEN works too)
export ANTHROPIC_DEFAULT_HAIKU_MODEL=${MODEL}   # its side requests (titles, checks)
claude --model ${MODEL}`,
    },
    {
      id: "codex",
      title: "Codex CLI (~/.codex/config.toml)",
      code: `# export AIRELAY_API_KEY=${KEY}
model = "${MODEL}"
model_provider = "airelay"

[model_providers.airelay]
name = "airelay"
base_url = "${origin}/v1"
env_key = "AIRELAY_API_KEY"
wire_api = "responses"`,
    },
    {
      id: "gemini",
      title: "Gemini CLI",
      code: `export GEMINI_API_KEY=${KEY}
export GOOGLE_GEMINI_BASE_URL=${origin}
# ~/.gemini/settings.json: {"security": {"auth": {"selectedType": "gemini-api-key"}}}
gemini -m ${MODEL}`,
    },
  ];
}

export function QuickStart() {
  return (
    <section>
      <h2>{t("nav.quickstart")}</h2>
      <p class="muted">{t("quick.intro", { key: KEY, model: MODEL })}</p>
      {snippets(location.origin).map((s) => (
        <div class="snippet" key={s.id}>
          <div class="snippet-head">
            <h3>{s.title}</h3>
            <CopyButton text={s.code} id={`copy-${s.id}`} />
          </div>
          <pre id={`snippet-${s.id}`}>
            <code>{s.code}</code>
          </pre>
        </div>
      ))}
    </section>
  );
}
