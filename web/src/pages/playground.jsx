// The playground: a chat against the user's own key, through the gateway's public route.
// A key's secret is shown once, so the page takes a pasted key or makes a key of its own; the
// secret stays in this tab's sessionStorage (gone when the tab closes), never in the account.
import { useEffect, useState } from "preact/hooks";
import { consoleApi, query } from "../api.js";
import { complete, keyModels } from "../chat.js";
import { t } from "../i18n.js";
import { Field, Form, usd, useLatest } from "../widgets.jsx";

const STORE = "airelay.playground.key";

function savedKey() {
  return sessionStorage.getItem(STORE) || "";
}

function KeyPicker({ onKey }) {
  return (
    <>
      <Form
        id="playground-key-form"
        submit={t("play.use_key")}
        onSubmit={async (d) => onKey(String(d.get("key")).trim())}
      >
        <Field label={t("play.paste_key")} name="key" type="password" required autocomplete="off" placeholder="sk-..." />
      </Form>
      <Form
        id="playground-new-key"
        submit={t("play.create_key")}
        onSubmit={async () => {
          const made = await consoleApi("POST", "/keys", { name: "playground", permissions: ["chat"] });
          onKey(made.key);
        }}
      >
        <p class="muted">{t("play.create_hint")}</p>
      </Form>
    </>
  );
}

// The call's charge, from its usage row once the billing flush has written it.
async function chargeOf(requestId, model) {
  for (let attempt = 0; attempt < 20; attempt++) {
    const page = await consoleApi("GET", `/usage${query({ model, limit: 20 })}`);
    const row = page.usage.find((r) => r.request_id === requestId);
    if (row) return row.cost;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return null;
}

export function Playground({ me, refresh }) {
  const [key, setKey] = useState(savedKey());
  const [models, setModels] = useState(null);
  const [error, setError] = useState("");
  const [turns, setTurns] = useState([]);
  const [answer, setAnswer] = useState(null);
  const [outcome, setOutcome] = useState(null);

  const ticket = useLatest();
  useEffect(() => {
    if (!key) return;
    setModels(null);
    const current = ticket();
    keyModels(key).then(
      (m) => current() && setModels(m),
      (e) => current() && setError(`${e.status || ""} ${e.message}`.trim()),
    );
  }, [key]);

  function useKey(value) {
    sessionStorage.setItem(STORE, value);
    setError("");
    setKey(value);
  }

  function forget() {
    sessionStorage.removeItem(STORE);
    setKey("");
    setModels(null);
    setError("");
  }

  async function send(d, form) {
    setError("");
    setOutcome(null);
    const model = String(d.get("model"));
    const asked = { role: "user", content: String(d.get("prompt")) };
    const system = String(d.get("system") || "").trim();
    const messages = [...(system ? [{ role: "system", content: system }] : []), ...turns, asked];
    let text = "";
    setAnswer("");
    try {
      const { usage, requestId } = await complete(
        key,
        {
          model,
          messages,
          temperature: Number(d.get("temperature")),
          // Without a bound the call reserves the model's whole output window: a small
          // balance may not cover that even when it covers the answer.
          ...(d.get("max_tokens") ? { max_tokens: Number(d.get("max_tokens")) } : {}),
          stream: d.get("stream") === "on",
        },
        (piece) => setAnswer((text += piece)),
      );
      setTurns([...turns, asked, { role: "assistant", content: text }]);
      setAnswer(null);
      form.querySelector("textarea[name=prompt]").value = "";
      setOutcome({ usage, requestId, cost: undefined });
      const cost = requestId ? await chargeOf(requestId, model) : null;
      setOutcome({ usage, requestId, cost });
      refresh();
    } catch (e) {
      setAnswer(null);
      throw new Error(e.status ? `${e.status}: ${e.message}` : e.message);
    }
  }

  return (
    <section>
      <h2>{t("nav.playground")}</h2>
      <p class="muted">
        {t("dash.balance")}: <strong id="play-balance">{usd(me.user.balance)}</strong>
      </p>
      {error && (
        <p class="error" role="alert" id="playground-error">
          {error}
        </p>
      )}
      {!key && <KeyPicker onKey={useKey} />}
      {key && (
        <p class="muted">
          {t("play.key_in_use", { hint: `${key.slice(0, 5)}…${key.slice(-4)}` })}{" "}
          <button id="playground-forget" onClick={forget}>
            {t("play.forget_key")}
          </button>
        </p>
      )}
      {turns.length > 0 && (
        <div class="chat" id="transcript">
          {turns.map((turn, i) => (
            <p key={i} class={`turn ${turn.role}`}>
              {turn.content}
            </p>
          ))}
          <button onClick={() => (setTurns([]), setOutcome(null))}>{t("play.clear")}</button>
        </div>
      )}
      {answer !== null && (
        <p class="turn assistant" id="streaming" aria-live="polite">
          {answer || "…"}
        </p>
      )}
      {outcome && (
        <p class="muted" id="play-outcome">
          {outcome.usage &&
            t("play.usage", { input: outcome.usage.prompt_tokens, output: outcome.usage.completion_tokens })}{" "}
          {outcome.cost === undefined ? "…" : outcome.cost === null ? "" : `${t("usage.cost")}: ${usd(outcome.cost)}`}
        </p>
      )}
      {key && models && (
        <Form id="playground-form" submit={t("play.send")} onSubmit={send}>
          <label class="field">
            <span>{t("usage.model")}</span>
            <select name="model" required>
              {models.map((m) => (
                <option key={m} value={m}>
                  {m}
                </option>
              ))}
            </select>
          </label>
          {!models.length && <p class="error">{t("play.no_models")}</p>}
          <label class="field">
            <span>{t("play.system")}</span>
            <textarea name="system" rows={2} />
          </label>
          <Field label={t("play.temperature")} name="temperature" type="number" min="0" max="2" step="0.1" defaultValue="1" required />
          <Field label={t("play.max_tokens")} name="max_tokens" type="number" min="1" step="1" defaultValue="1024" />
          <label class="check">
            <input type="checkbox" name="stream" defaultChecked /> {t("play.stream")}
          </label>
          <label class="field">
            <span>{t("play.prompt")}</span>
            <textarea name="prompt" rows={3} required />
          </label>
        </Form>
      )}
    </section>
  );
}
