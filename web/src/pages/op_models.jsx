// Operator page: models and prices. A model is added with its token prices; the table edits
// every price of the shown page at once (Save sends one PATCH per changed model: an emptied
// cell removes that price), deletes a model, and pages; the group multipliers scale every
// price for the users of a group.
import { useState } from "preact/hooks";
import { adminApi } from "../api.js";
import { t } from "../i18n.js";
import { ActionButton, Field, Form, Pager } from "../widgets.jsx";
import { useReadOnly, Write } from "../readonly.js";
import { useAdminList } from "./op_list.js";

// As the models API takes them: USD per 1M tokens, then per call, image, second, ...
const PRICES = ["input", "output", "cached_input", "cache_write_5m", "cache_write_1h", "per_request", "per_image", "per_video_second", "per_million_characters", "per_audio_minute"];
const PAGE = 20;

function shown(value) {
  if (value === undefined || value === null) return "";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function sent(text) {
  // Empty: the price goes (null); a table of prices by size is JSON; else the decimal as
  // typed, so that no binary float rounds it on the way.
  const trimmed = text.trim();
  if (!trimmed) return null;
  if (trimmed.startsWith("{")) {
    try {
      return JSON.parse(trimmed);
    } catch {
      return trimmed; // the server says what is wrong with it
    }
  }
  return trimmed;
}

function PriceTable({ models: all, reload }) {
  const [page, setPage] = useState(1);
  const [filter, setFilter] = useState("");
  const models = filter ? all.filter((m) => m.id.includes(filter)) : all;
  const [edits, setEdits] = useState({});
  const [error, setError] = useState("");
  const [saved, setSaved] = useState(0);
  const [busy, setBusy] = useState(false);
  const rows = models.slice((page - 1) * PAGE, page * PAGE);
  const value = (m, name) => edits[m.id]?.[name] ?? shown(m.pricing[name]);
  const edit = (id, name, text) => setEdits((e) => ({ ...e, [id]: { ...e[id], [name]: text } }));

  async function save(event) {
    event.preventDefault();
    setBusy(true);
    setError("");
    const done = [];
    let failed = false;
    try {
      for (const [id, changed] of Object.entries(edits)) {
        const model = all.find((m) => m.id === id);
        const pricing = {};
        for (const [name, text] of Object.entries(changed)) {
          if (!model || text !== shown(model.pricing[name])) pricing[name] = sent(text);
        }
        if (!Object.keys(pricing).length) continue;
        try {
          await adminApi("PATCH", `/models/${encodeURIComponent(id)}`, { pricing });
        } catch (err) {
          throw new Error(`${id}: ${err.message}`);
        }
        done.push(id);
      }
    } catch (err) {
      failed = true;
      setError(err.message);
    } finally {
      // The saved prices first, then the typed ones let go: a row never shows its old
      // prices in between.
      await reload();
      setEdits((e) => Object.fromEntries(Object.entries(e).filter(([id]) => !done.includes(id))));
      if (!failed) setSaved(done.length);
      setBusy(false);
    }
  }

  // A read-only operator reads the prices: no form, no inputs, no save.
  const readOnly = useReadOnly();
  const Frame = readOnly ? "div" : "form";
  return (
    <Frame id={readOnly ? "prices-view" : "prices-form"} class="table-form" onSubmit={readOnly ? undefined : save}>
      <label class="field">
        <span>{t("models.filter")}</span>
        <input id="models-filter" type="search" value={filter} onInput={(e) => (setFilter(e.currentTarget.value.trim()), setPage(1))} />
      </label>
      <div class="scroll">
        <table id="models-table">
          <thead>
            <tr>
              <th>{t("models.id")}</th>
              {PRICES.map((name) => (
                <th key={name}>{t(`price.${name}`)}</th>
              ))}
              <th />
            </tr>
          </thead>
          <tbody>
            {rows.map((m) => (
              <tr key={m.id} data-model={m.id}>
                <td>{m.id}</td>
                {PRICES.map((name) => (
                  <td key={name}>
                    <input
                      readOnly={readOnly}
                      class="price"
                      name={name}
                      inputMode="decimal"
                      aria-label={`${m.id} ${t(`price.${name}`)}`}
                      value={value(m, name)}
                      onInput={(e) => edit(m.id, name, e.currentTarget.value)}
                    />
                  </td>
                ))}
                <td>
                  <Write>
                  <ActionButton
                    class="model-delete"
                    onClick={async () => {
                      await adminApi("DELETE", `/models/${encodeURIComponent(m.id)}`);
                      await reload();
                    }}
                  >
                    {t("models.delete")}
                  </ActionButton>
                  </Write>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <Pager page={page} limit={PAGE} total={models.length} onPage={setPage} />
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {saved > 0 && !error && <p class="notice">{t("models.saved", { count: saved })}</p>}
      <Write>
        <button type="submit" id="prices-save" disabled={busy}>
          {t("models.save_all")}
        </button>
      </Write>
    </Frame>
  );
}

function Multipliers() {
  const [settings, load, error] = useAdminList("/settings");
  const [removed, setRemoved] = useState([]);
  const [extra, setExtra] = useState(0);
  const [saved, setSaved] = useState(false);
  if (!settings) return error ? <p class="error">{error}</p> : null;
  const groups = Object.entries(settings.group_multipliers || {}).filter(([g]) => !removed.includes(g));
  return (
    <Form
      id="multipliers-form"
      submit={t("models.save")}
      onSubmit={async (d) => {
        setSaved(false);
        const body = {};
        for (const group of removed) body[group] = null;
        for (const [group] of groups) body[group] = d.get(`m:${group}`);
        for (let i = 0; i < extra; i++) {
          const group = String(d.get(`new-group-${i}`) || "").trim();
          if (group) body[group] = d.get(`new-factor-${i}`);
        }
        await adminApi("PATCH", "/settings", { group_multipliers: body });
        setRemoved([]);
        setExtra(0);
        await load();
        setSaved(true);
      }}
    >
      <h3>{t("models.multipliers")}</h3>
      <p class="muted">{t("models.multipliers_hint")}</p>
      {groups.map(([group, factor]) => (
        <div class="row" key={`${group}-${factor}`} data-group={group}>
          <Field label={group} name={`m:${group}`} inputMode="decimal" required defaultValue={factor} />
          <button type="button" class="multiplier-remove" onClick={() => setRemoved([...removed, group])}>
            {t("models.delete")}
          </button>
        </div>
      ))}
      {Array.from({ length: extra }, (_, i) => (
        <div class="row" key={`new-${i}`}>
          <Field label={t("users.group")} name={`new-group-${i}`} maxLength={200} />
          <Field label={t("models.multiplier")} name={`new-factor-${i}`} inputMode="decimal" />
        </div>
      ))}
      <button type="button" id="multiplier-add" onClick={() => setExtra(extra + 1)}>
        {t("models.multiplier_add")}
      </button>
      {saved && (
        <p class="notice" id="multipliers-saved">
          {t("settings.saved")}
        </p>
      )}
    </Form>
  );
}

export function Models() {
  const [data, load, error] = useAdminList("/models");
  return (
    <section>
      <h2>{t("nav.models")}</h2>
      {error && <p class="error">{error}</p>}
      <Form
        id="price-form"
        submit={t("common.add")}
        onSubmit={async (d, form) => {
          const id = d.get("id");
          const pricing = { input: d.get("input"), output: d.get("output") };
          const exists = data && data.models.some((m) => m.id === id);
          if (exists) await adminApi("PATCH", `/models/${encodeURIComponent(id)}`, { pricing });
          else await adminApi("POST", "/models", { id, pricing });
          form.reset();
          await load();
        }}
      >
        <Field label={t("models.id")} name="id" required maxLength={200} />
        <Field label={t("models.input")} name="input" type="number" min="0" step="any" required />
        <Field label={t("models.output")} name="output" type="number" min="0" step="any" required />
      </Form>
      {data && <PriceTable models={data.models} reload={load} />}
      <Multipliers />
    </section>
  );
}
