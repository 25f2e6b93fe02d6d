// Operator pages: channels, models and prices (users, codes and settings are in op_users,
// op_codes and op_settings). They call the management API with the session (and its CSRF
// token).
import { useEffect, useState } from "preact/hooks";
import { adminApi } from "../api.js";
import { t } from "../i18n.js";
import { Field, Form, lines } from "../widgets.jsx";

function useList(path, deps = []) {
  const [data, setData] = useState(null);
  const [error, setError] = useState("");
  const load = () => adminApi("GET", path).then((d) => (setData(d), setError("")), (e) => setError(e.message));
  useEffect(() => {
    load();
  }, [path, ...deps]);
  return [data, load, error];
}

const CHANNEL_TYPES = ["openai", "anthropic", "gemini", "deepseek", "qwen", "glm", "kimi", "doubao", "minimax", "xai", "ollama", "bedrock", "vertex", "vertex_anthropic", "azure"];

export function Channels() {
  const [data, load, error] = useList("/channels");
  const [adding, setAdding] = useState(false);
  const [tests, setTests] = useState({});
  const [costing, setCosting] = useState(null);
  return (
    <section>
      <h2>{t("nav.channels")}</h2>
      {error && <p class="error">{error}</p>}
      {costing && (
        <Form
          id="channel-cost-form"
          submit={t("models.save")}
          onSubmit={async (d) => {
            const value = String(d.get("cost_multiplier") || "").trim();
            await adminApi("PATCH", `/channels/${costing.id}`, { cost_multiplier: value === "" ? null : value });
            setCosting(null);
            load();
          }}
        >
          <p>{costing.name}</p>
          <Field
            label={t("channels.cost_multiplier")}
            name="cost_multiplier"
            inputMode="decimal"
            defaultValue={costing.cost_multiplier ?? ""}
          />
        </Form>
      )}
      {adding ? (
        <Form
          id="channel-form"
          submit={t("common.add")}
          onSubmit={async (d) => {
            const body = {
              name: d.get("name"),
              type: d.get("type"),
              api_keys: lines(d.get("api_keys")),
              models: lines(d.get("models")),
              priority: Number(d.get("priority") || 1),
            };
            if (d.get("base_url")) body.base_url = d.get("base_url");
            const cost = String(d.get("cost_multiplier") || "").trim();
            if (cost) body.cost_multiplier = cost;
            await adminApi("POST", "/channels", body);
            setAdding(false);
            load();
          }}
        >
          <Field label={t("channels.name")} name="name" required maxLength={200} />
          <label class="field">
            <span>{t("channels.type")}</span>
            <select name="type">
              {CHANNEL_TYPES.map((type) => (
                <option key={type} value={type}>
                  {type}
                </option>
              ))}
            </select>
          </label>
          <Field label={t("channels.base_url")} name="base_url" type="url" placeholder={t("channels.base_url_hint")} />
          <label class="field">
            <span>{t("channels.api_keys")}</span>
            <textarea name="api_keys" required />
          </label>
          <label class="field">
            <span>{t("channels.models")}</span>
            <textarea name="models" />
          </label>
          <Field label={t("channels.priority")} name="priority" type="number" min="1" defaultValue="1" />
          <Field label={t("channels.cost_multiplier")} name="cost_multiplier" inputMode="decimal" />
        </Form>
      ) : (
        <button id="add-channel" onClick={() => setAdding(true)}>
          {t("channels.add")}
        </button>
      )}
      <div class="scroll">
        <table id="channels-table">
          <thead>
            <tr>
              <th>{t("channels.name")}</th>
              <th>{t("channels.type")}</th>
              <th>{t("channels.models")}</th>
              <th>{t("keys.status")}</th>
              <th>{t("channels.health")}</th>
              <th>{t("channels.cost")}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {data &&
              data.channels.map((c) => (
                <tr key={c.id}>
                  <td>{c.name}</td>
                  <td>{c.type}</td>
                  <td>{(c.models || []).join(", ")}</td>
                  <td>{t(`status.${c.status}`)}</td>
                  <td>
                    {c.health ? c.health.state : ""} {tests[c.id] || ""}
                  </td>
                  <td class="cost-multiplier">{c.cost_multiplier ?? "—"}</td>
                  <td class="actions">
                    <button class="edit-cost" onClick={() => setCosting(c)}>
                      {t("channels.edit_cost")}
                    </button>
                    <button
                      onClick={async () => {
                        setTests({ ...tests, [c.id]: "…" });
                        try {
                          const r = await adminApi("POST", `/channels/${c.id}/test`, {});
                          setTests((s) => ({ ...s, [c.id]: r.success ? `✓ ${r.latency_ms ?? ""} ms` : `✗ ${r.message || ""}` }));
                        } catch (e) {
                          setTests((s) => ({ ...s, [c.id]: `✗ ${e.message}` }));
                        }
                      }}
                    >
                      {t("channels.test")}
                    </button>
                    <button
                      onClick={async () => {
                        await adminApi("PATCH", `/channels/${c.id}`, {
                          status: c.status === "active" ? "disabled" : "active",
                        });
                        load();
                      }}
                    >
                      {c.status === "active" ? t("common.disable") : t("common.enable")}
                    </button>
                  </td>
                </tr>
              ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

export function Models() {
  const [data, load, error] = useList("/models");
  return (
    <section>
      <h2>{t("nav.models")}</h2>
      {error && <p class="error">{error}</p>}
      <Form
        id="price-form"
        submit={t("models.save")}
        onSubmit={async (d, form) => {
          const id = d.get("id");
          const pricing = { input: d.get("input"), output: d.get("output") };
          const exists = data && data.models.some((m) => m.id === id);
          if (exists) await adminApi("PATCH", `/models/${encodeURIComponent(id)}`, { pricing });
          else await adminApi("POST", "/models", { id, pricing });
          form.reset();
          load();
        }}
      >
        <Field label={t("models.id")} name="id" required maxLength={200} />
        <Field label={t("models.input")} name="input" type="number" min="0" step="any" required />
        <Field label={t("models.output")} name="output" type="number" min="0" step="any" required />
      </Form>
      <div class="scroll">
        <table id="models-table">
          <thead>
            <tr>
              <th>{t("models.id")}</th>
              <th>{t("models.input")}</th>
              <th>{t("models.output")}</th>
            </tr>
          </thead>
          <tbody>
            {data &&
              data.models.map((m) => (
                <tr key={m.id}>
                  <td>{m.id}</td>
                  <td>{m.pricing.input ?? "—"}</td>
                  <td>{m.pricing.output ?? "—"}</td>
                </tr>
              ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
