// The playground's calls to the gateway's own OpenAI routes, with a user key (not the
// session): the same path every client takes, so what the page shows is what a program gets.
import { ApiError } from "./api.js";

async function failure(response) {
  let message = `HTTP ${response.status}`;
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) message = body.error.message;
  } catch {
    // not JSON: the status says it
  }
  return new ApiError(response.status, message);
}

function headers(key) {
  return { Authorization: `Bearer ${key}`, "Content-Type": "application/json", Accept: "application/json" };
}

/** The ids of the models the key may use (GET /v1/models). */
export async function keyModels(key) {
  const response = await fetch("/v1/models", { headers: headers(key), credentials: "omit" });
  if (!response.ok) throw await failure(response);
  const body = await response.json();
  return body.data.map((m) => m.id).sort();
}

/**
 * One chat completion. `onText` gets each piece of the answer as it arrives (the whole answer
 * at once when not streamed). Resolves to {usage, requestId}; a refusal or an error event in
 * the stream rejects with the server's message.
 */
export async function complete(key, body, onText) {
  const request = { ...body };
  if (request.stream) request.stream_options = { include_usage: true };
  const response = await fetch("/v1/chat/completions", {
    method: "POST",
    headers: headers(key),
    body: JSON.stringify(request),
    credentials: "omit",
  });
  if (!response.ok) throw await failure(response);
  const requestId = response.headers.get("x-request-id");
  if (!request.stream) {
    const data = await response.json();
    onText((data.choices[0] && data.choices[0].message.content) || "");
    return { usage: data.usage || null, requestId };
  }
  let usage = null;
  for await (const event of events(response.body)) {
    if (event.error) throw new ApiError(response.status, event.error.message || "stream error");
    const choice = event.choices && event.choices[0];
    if (choice && choice.delta && choice.delta.content) onText(choice.delta.content);
    if (event.usage) usage = event.usage;
  }
  return { usage, requestId };
}

/** The JSON payloads of a server-sent event stream, up to `data: [DONE]`. */
async function* events(stream) {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
    const blocks = buffer.split(/\r?\n\r?\n/);
    buffer = done ? "" : blocks.pop();
    for (const block of blocks) {
      const data = block
        .split(/\r?\n/)
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).trimStart())
        .join("\n");
      if (!data) continue;
      if (data === "[DONE]") {
        reader.cancel().catch(() => {});
        return;
      }
      yield JSON.parse(data);
    }
    if (done) return;
  }
}
