// Operator page: channels. Add from a provider preset, edit (keys are write-only: a new key
// replaces or joins the stored ones, which are never shown back), test with latency,
// enable/disable, and the health of the channel and of each of its keys.
import { useState } from "preact/hooks";
import { adminApi } from "../api.js";
import { t } from "../i18n.js";
import { ActionButton, Field, Form, lines, Pager } from "../widgets.jsx";
import { localTime, useAdminList } from "./op_list.js";

const PAGE = 20;
// The types of providers/presets.py (kling: video tasks only, set up through the API).
const CHANNEL_TYPES = [
  "openai", "anthropic", "gemini", "deepseek", "qwen", "glm", "kimi", "doubao", "siliconflow",
  "vikingdb", "minimax", "xai", "ollama", "bedrock", "vertex", "vertex_anthropic", "azure",
  "dashscope",
];
const ENDPOINTS = ["chat", "responses", "embeddings", "rerank", "images", "audio", "video"];

function mappingText(mapping) {
  return Object.entries(mapping || {})
    .map(([from, to]) => `${from}=${to}`)
    .join("\n");
}

function parseMapping(text) {
  // One "public=upstream" a line; a line without "=" is refused here, never dropped.
  const mapping = {};
  for (const line of lines(text)) {
    const at = line.indexOf("=");
    if (at < 0) throw new Error(t("channels.mapping_bad", { line }));
    mapping[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return mapping;
}

function Health({ health, keys }) {
  if (!health) return null;
  const line = (h) => (
    <>
      <span class={`health-${h.state}`}>{t(`health.${h.state}`)}</span>
      {h.reason && (
        <span class="muted health-reason" title={h.reason}>
          {" · "}
          {h.reason.length > 160 ? `${h.reason.slice(0, 160)}…` : h.reason}
        </span>
      )}
      {h.until && <span class="muted"> · {t("health.until", { time: localTime(h.until) })}</span>}
    </>
  );
  return (
    <div class="health">
      <div class="health-channel">{line(health)}</div>
      {(health.keys || []).length > 1 || (health.keys || []).some((k) => k.state !== "closed") ? (
        <ul class="health-keys">
          {health.keys.map((k) => (
            <li key={k.index} data-key={k.index}>
              {t("health.key", { n: k.index + 1 })} <code>{keys[k.index] || ""}</code>: {line(k)}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

function EditChannel({ channel, done }) {
  return (
    <Form
      id="channel-edit-form"
      submit={t("models.save")}
      onSubmit={async (d) => {
        const body = {
          name: d.get("name"),
          models: lines(d.get("models")),
          model_mapping: parseMapping(d.get("model_mapping")),
          priority: Number(d.get("priority")),
          weight: Number(d.get("weight")),
        };
        if (d.get("base_url")) body.base_url = d.get("base_url");
        const endpoints = d.getAll("endpoints");
        if (endpoints.join() !== channel.endpoints.join()) body.endpoints = endpoints;
        const keys = lines(d.get("api_keys"));
        if (keys.length) body[d.get("keys_mode") === "replace" ? "api_keys" : "add_api_keys"] = keys;
        await adminApi("PATCH", `/channels/${channel.id}`, body);
        done(true);
      }}
    >
      <h3>{t("channels.editing", { name: channel.name })}</h3>
      <Field label={t("channels.name")} name="name" required maxLength={200} defaultValue={channel.name} />
      <Field label={t("channels.base_url")} name="base_url" type="url" defaultValue={channel.base_url || ""} />
      <label class="field">
        <span>{t("channels.models")}</span>
        <textarea name="models" defaultValue={(channel.models || []).join("\n")} />
      </label>
      <label class="field">
        <span>{t("channels.model_mapping")}</span>
        <textarea name="model_mapping" placeholder="gpt-4o=gpt-4o-2024-08-06" defaultValue={mappingText(channel.model_mapping)} />
      </label>
      <Field label={t("channels.priority")} name="priority" type="number" min="1" required defaultValue={String(channel.priority)} />
      <Field label={t("channels.weight")} name="weight" type="number" min="0" required defaultValue={String(channel.weight)} />
      <fieldset class="checks">
        <legend>{t("channels.endpoints")}</legend>
        {ENDPOINTS.map((name) => (
          <label class="check" key={name}>
            <input type="checkbox" name="endpoints" value={name} defaultChecked={channel.endpoints.includes(name)} /> {name}
          </label>
        ))}
      </fieldset>
      <p class="muted">{t("channels.keys_count", { count: channel.api_keys.length })}</p>
      <label class="field">
        <span>{t("channels.new_keys")}</span>
        <textarea name="api_keys" autocomplete="off" />
      </label>
      <label class="field">
        <span>{t("channels.keys_mode")}</span>
        <select name="keys_mode">
          <option value="add">{t("channels.keys_add")}</option>
          <option value="replace">{t("channels.keys_replace")}</option>
        </select>
      </label>
      <button type="button" onClick={() => done(false)}>
        {t("channels.cancel")}
      </button>
    </Form>
  );
}

export function Channels() {
  const [data, load, error] = useAdminList("/channels");
  const [adding, setAdding] = useState(false);
  const [editing, setEditing] = useState(null);
  const [tests, setTests] = useState({});
  const [costing, setCosting] = useState(null);
  const [page, setPage] = useState(1);
  // Newest first, a page at a time (the API answers the whole list: tens, not thousands).
  // (ids grow with each one made, so they order channels made within one second).
  const newer = (a, b) => (a.created_at === b.created_at ? b.id.localeCompare(a.id) : a.created_at < b.created_at ? 1 : -1);
  const channels = data ? [...data.channels].sort(newer) : [];
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
            await load();
          }}
        >
          <p>{costing.name}</p>
          <Field label={t("channels.cost_multiplier")} name="cost_multiplier" inputMode="decimal" defaultValue={costing.cost_multiplier ?? ""} />
        </Form>
      )}
      {editing && (
        <EditChannel
          key={editing.id}
          channel={editing}
          done={(changed) => {
            setEditing(null);
            if (changed) load();
          }}
        />
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
              priority: Number(d.get("priority") || 1),
            };
            // No models given: the preset's usual ones (as with no base URL, its own).
            const models = lines(d.get("models"));
            if (models.length) body.models = models;
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
            <textarea name="models" placeholder={t("channels.models_hint")} />
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
            {channels.slice((page - 1) * PAGE, page * PAGE).map((c) => (
                <tr key={c.id} data-channel={c.id}>
                  <td>{c.name}</td>
                  <td>{c.type}</td>
                  <td>{(c.models || []).join(", ")}</td>
                  <td>{t(`status.${c.status}`)}</td>
                  <td>
                    <Health health={c.health} keys={c.api_keys} />
                    {tests[c.id] && <span class="test-result">{tests[c.id]}</span>}
                  </td>
                  <td class="cost-multiplier">{c.cost_multiplier ?? "—"}</td>
                  <td class="actions">
                    <button class="edit-cost" onClick={() => setCosting(c)}>
                      {t("channels.edit_cost")}
                    </button>
                    <button
                      class="channel-test"
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
                    <button class="channel-edit" onClick={() => setEditing(c)}>
                      {t("keys.edit")}
                    </button>
                    <ActionButton
                      class="channel-toggle"
                      onClick={async () => {
                        await adminApi("PATCH", `/channels/${c.id}`, {
                          status: c.status === "active" ? "disabled" : "active",
                        });
                        await load();
                      }}
                    >
                      {c.status === "active" ? t("common.disable") : t("common.enable")}
                    </ActionButton>
                  </td>
                </tr>
              ))}
          </tbody>
        </table>
      </div>
      {channels.length > PAGE && (
        <Pager page={page} limit={PAGE} total={channels.length} onPage={setPage} />
      )}
    </section>
  );
}
