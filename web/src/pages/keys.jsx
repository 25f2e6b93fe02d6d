// The user's API keys: create (the secret shown once), edit limits, revoke.
import { useState } from "preact/hooks";
import { consoleApi, query } from "../api.js";
import { t } from "../i18n.js";
import { KeyFields, keyBody } from "../key_form.jsx";
import { CopyButton, Form, Pager, usd, useList } from "../widgets.jsx";

export function Keys() {
  const [page, setPage] = useState(1);
  const [list, load] = useList(consoleApi, `/keys${query({ page, limit: 20 })}`, {
    tokens: [],
    total: 0,
    page: 1,
    limit: 20,
  });
  const [secret, setSecret] = useState(null);
  const [editing, setEditing] = useState(null);
  const [creating, setCreating] = useState(false);

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
