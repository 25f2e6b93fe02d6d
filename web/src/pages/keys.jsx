// The user's API keys: create (the secret shown once), edit limits, revoke.
import { useEffect, useState } from "preact/hooks";
import { consoleApi, query } from "../api.js";
import { t } from "../i18n.js";
import { CopyButton, Field, Form, Pager, lines, usd } from "../widgets.jsx";

const PERMISSIONS = ["chat", "embeddings", "images", "audio", "video", "rerank"];
const PERIODS = ["daily", "weekly", "monthly"];

function keyBody(data) {
  const body = {
    name: data.get("name"),
    permissions: PERMISSIONS.filter((p) => data.get(`perm-${p}`)),
    models: lines(data.get("models")),
    ip_allowlist: lines(data.get("ip_allowlist")),
  };
  if (!body.models.length) body.models = null;
  if (!body.ip_allowlist.length) body.ip_allowlist = null;
  for (const field of ["rpm", "tpm"]) {
    const value = data.get(field);
    body[field] = value === "" ? null : Number(value);
  }
  body.quota = data.get("quota") === "" ? null : data.get("quota");
  body.quota_period = data.get("quota_period") || null;
  body.expires_at = data.get("expires_at") || null;
  return body;
}

function KeyFields({ token }) {
  const has = (p) => !token || token.permissions.includes(p);
  return (
    <>
      <Field label={t("keys.name")} name="name" required maxLength={200} defaultValue={token ? token.name : ""} />
      <fieldset class="perms">
        <legend>{t("keys.permissions")}</legend>
        {PERMISSIONS.map((p) => (
          <label key={p}>
            <input type="checkbox" name={`perm-${p}`} defaultChecked={has(p)} /> {p}
          </label>
        ))}
      </fieldset>
      <label class="field">
        <span>{t("keys.models")}</span>
        <textarea name="models" placeholder={t("keys.models_hint")} defaultValue={token && token.models ? token.models.join("\n") : ""} />
      </label>
      <label class="field">
        <span>{t("keys.ip_allowlist")}</span>
        <textarea name="ip_allowlist" placeholder="203.0.113.0/24" defaultValue={token && token.ip_allowlist ? token.ip_allowlist.join("\n") : ""} />
      </label>
      <Field label={t("keys.quota")} name="quota" type="number" min="0" step="any" defaultValue={token && token.quota !== null ? token.quota : ""} />
      <label class="field">
        <span>{t("keys.quota_period")}</span>
        <select name="quota_period" defaultValue={token && token.quota_period ? token.quota_period : ""}>
          <option value="">{t("keys.period_none")}</option>
          {PERIODS.map((p) => (
            <option key={p} value={p}>
              {t(`keys.period_${p}`)}
            </option>
          ))}
        </select>
      </label>
      <Field label={t("keys.rpm")} name="rpm" type="number" min="0" defaultValue={token && token.rpm !== null ? token.rpm : ""} />
      <Field label={t("keys.tpm")} name="tpm" type="number" min="0" defaultValue={token && token.tpm !== null ? token.tpm : ""} />
      <Field label={t("keys.expires_at")} name="expires_at" type="date" defaultValue={token && token.expires_at ? token.expires_at.slice(0, 10) : ""} />
    </>
  );
}

export function Keys() {
  const [list, setList] = useState({ tokens: [], total: 0, page: 1, limit: 20 });
  const [page, setPage] = useState(1);
  const [secret, setSecret] = useState(null);
  const [editing, setEditing] = useState(null);
  const [creating, setCreating] = useState(false);
  const load = () => consoleApi("GET", `/keys${query({ page, limit: 20 })}`).then(setList);
  useEffect(() => {
    load();
  }, [page]);

  return (
    <section>
      <h2>{t("nav.keys")}</h2>
      {secret && (
        <div class="secret" id="new-key">
          <p>{t("keys.shown_once")}</p>
          <code id="new-key-secret">{secret}</code>
          <CopyButton text={secret} id="copy-key" />
          <button onClick={() => setSecret(null)}>{t("keys.done")}</button>
        </div>
      )}
      {!creating && !editing && (
        <button id="create-key" onClick={() => setCreating(true)}>
          {t("keys.create")}
        </button>
      )}
      {creating && (
        <Form
          id="create-key-form"
          submit={t("keys.create")}
          onSubmit={async (data) => {
            const created = await consoleApi("POST", "/keys", keyBody(data));
            setSecret(created.key);
            setCreating(false);
            load();
          }}
        >
          <KeyFields />
        </Form>
      )}
      {editing && (
        <Form
          id="edit-key-form"
          key={editing.id}
          submit={t("keys.save")}
          onSubmit={async (data) => {
            await consoleApi("PATCH", `/keys/${editing.id}`, keyBody(data));
            setEditing(null);
            load();
          }}
        >
          <KeyFields token={editing} />
        </Form>
      )}
      <div class="scroll">
      <table id="keys-table">
        <thead>
          <tr>
            <th>{t("keys.name")}</th>
            <th>{t("keys.key")}</th>
            <th>{t("keys.status")}</th>
            <th>{t("keys.used")}</th>
            <th>{t("keys.expires_at")}</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {list.tokens.map((k) => (
            <tr key={k.id}>
              <td>{k.name}</td>
              <td>
                <code>{k.key_hint}</code>
              </td>
              <td>{t(`status.${k.status}`)}</td>
              <td>
                {usd(k.quota_period ? k.quota_used : k.used)}
                {k.quota !== null && ` / ${usd(k.quota)}`}
                {k.quota_resets_at && ` (${t("keys.resets", { date: k.quota_resets_at.slice(0, 10) })})`}
              </td>
              <td>{k.expires_at ? k.expires_at.slice(0, 10) : "—"}</td>
              <td class="actions">
                {k.status !== "revoked" && (
                  <>
                    <button onClick={() => (setCreating(false), setEditing(k))}>{t("keys.edit")}</button>
                    <button
                      class="danger"
                      onClick={async () => {
                        if (confirm(t("keys.revoke_confirm", { name: k.name }))) {
                          await consoleApi("DELETE", `/keys/${k.id}`);
                          load();
                        }
                      }}
                    >
                      {t("keys.revoke")}
                    </button>
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      </div>
      <Pager page={list.page} limit={list.limit} total={list.total} onPage={setPage} />
    </section>
  );
}
