// Operator page: users. Add a user (with an opening balance), make a key for a user (its
// secret shown once), search by e-mail or name, top up with a note, change group and role,
// disable and enable. A read-only operator sees the list and the search only.
import { useState } from "preact/hooks";
import { adminApi, query } from "../api.js";
import { t } from "../i18n.js";
import { KeyFields, keyBody } from "../key_form.jsx";
import { Write } from "../readonly.js";
import { CopyButton, Field, Form, Pager, usd } from "../widgets.jsx";
import { useAdminList } from "./op_list.js";

const ROLES = ["user", "operator", "viewer"];

function AddUser({ done }) {
  return (
    <Form
      id="user-add-form"
      submit={t("common.add")}
      onSubmit={async (d) => {
        const body = { group: d.get("group").trim() || "default", balance: d.get("balance") || "0" };
        for (const field of ["email", "name"]) {
          const value = d.get(field).trim();
          if (value) body[field] = value;
        }
        done(await adminApi("POST", "/users", body));
      }}
    >
      <h3>{t("users.add")}</h3>
      <Field label={t("auth.email")} name="email" type="email" maxLength={320} autocomplete="off" />
      <Field label={t("users.name")} name="name" maxLength={200} />
      <Field label={t("users.group")} name="group" defaultValue="default" required maxLength={64} />
      <Field label={t("users.balance")} name="balance" type="number" min="0" step="any" defaultValue="0" />
      <button type="button" onClick={() => done(null)}>
        {t("channels.cancel")}
      </button>
    </Form>
  );
}

function NewKey({ user, done }) {
  // The management API's key for this user: every field a user's own key form has.
  return (
    <Form
      id="user-key-form"
      submit={t("keys.create")}
      onSubmit={async (d) => done(await adminApi("POST", "/tokens", { user_id: user.id, ...keyBody(d) }))}
    >
      <h3>{t("users.key_for", { user: user.email || user.id })}</h3>
      <KeyFields />
      <button type="button" onClick={() => done(null)}>
        {t("channels.cancel")}
      </button>
    </Form>
  );
}

function IssuedKey({ issued, done }) {
  return (
    <div class="secret" id="issued-key">
      <p>{t("users.key_issued", { name: issued.name, user: issued.user })}</p>
      <p>{t("keys.shown_once")}</p>
      <code id="issued-key-secret">{issued.key}</code>
      <CopyButton text={issued.key} id="copy-issued-key" />
      <button onClick={done}>{t("keys.done")}</button>
    </div>
  );
}

export function Users() {
  const [page, setPage] = useState(1);
  const [q, setQ] = useState("");
  const [data, load, error, ask] = useAdminList(`/users${query({ page, limit: 20, q })}`);
  const [topping, setTopping] = useState(null);
  const [editing, setEditing] = useState(null);
  const [adding, setAdding] = useState(false);
  const [keyFor, setKeyFor] = useState(null);
  const [issued, setIssued] = useState(null);
  const only = (open) => (setTopping(null), setEditing(null), setAdding(false), setKeyFor(null), open());
  return (
    <section>
      <h2>{t("nav.users")}</h2>
      {issued && <IssuedKey issued={issued} done={() => setIssued(null)} />}
      {adding ? (
        <AddUser
          done={(user) => {
            setAdding(false);
            // A new user's next step is a key: its form opens at once.
            if (user) (setIssued(null), setKeyFor(user), load());
          }}
        />
      ) : (
        !keyFor && (
          <Write>
            <button id="add-user" onClick={() => only(() => (setIssued(null), setAdding(true)))}>
              {t("users.add")}
            </button>
          </Write>
        )
      )}
      {keyFor && (
        <NewKey
          key={`key-${keyFor.id}`}
          user={keyFor}
          done={(made) => {
            if (made) setIssued({ key: made.key, name: made.name, user: keyFor.email || keyFor.id });
            setKeyFor(null);
          }}
        />
      )}
      <form
        id="users-search"
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          setQ(new FormData(e.currentTarget).get("q").trim());
          setPage(1);
          ask();
        }}
      >
        <input name="q" type="search" maxLength={320} placeholder={t("users.search_hint")} aria-label={t("users.search")} />
        <button type="submit">{t("users.search")}</button>
      </form>
      {error && <p class="error">{error}</p>}
      {topping && (
        <Form
          id="topup-form"
          key={`topup-${topping.id}`}
          submit={t("users.topup")}
          onSubmit={async (d) => {
            await adminApi("POST", "/topup", {
              user_id: topping.id,
              amount: d.get("amount"),
              description: d.get("note") || undefined,
            });
            setTopping(null);
            load();
          }}
        >
          <p>{topping.email || topping.id}</p>
          <Field label={t("topup.amount")} name="amount" type="number" min="0.01" step="any" required />
          <Field label={t("users.note")} name="note" maxLength={200} />
        </Form>
      )}
      {editing && (
        <Form
          id="user-edit-form"
          key={`edit-${editing.id}`}
          submit={t("models.save")}
          onSubmit={async (d) => {
            await adminApi("PATCH", `/users/${editing.id}`, { group: d.get("group").trim(), role: d.get("role") });
            setEditing(null);
            load();
          }}
        >
          <p>{editing.email || editing.id}</p>
          <Field label={t("users.group")} name="group" defaultValue={editing.group} required maxLength={64} />
          <label class="field">
            <span>{t("users.role")}</span>
            <select name="role" defaultValue={editing.role}>
              {ROLES.map((role) => (
                <option key={role} value={role}>
                  {t(`users.role_${role}`)}
                </option>
              ))}
            </select>
          </label>
        </Form>
      )}
      <div class="scroll">
        <table id="users-table">
          <thead>
            <tr>
              <th>{t("auth.email")}</th>
              <th>{t("users.group")}</th>
              <th>{t("users.role")}</th>
              <th>{t("keys.status")}</th>
              <th>{t("dash.balance")}</th>
              <th>{t("dash.total_spent")}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {data &&
              data.users.map((u) => (
                <tr key={u.id} data-user={u.id}>
                  <td>
                    {u.email || u.id}
                    {u.name && <div class="muted">{u.name}</div>}
                  </td>
                  <td>{u.group}</td>
                  <td>{t(`users.role_${u.role || "user"}`)}</td>
                  <td>{t(`status.${u.status}`)}</td>
                  <td>{usd(u.balance)}</td>
                  <td>{usd(u.total_usage)}</td>
                  <td>
                    <Write>
                      <div class="actions">
                        <button onClick={() => only(() => setTopping(u))}>{t("users.topup")}</button>
                        {u.status !== "deleted" && (
                          <button onClick={() => only(() => setEditing(u))}>{t("users.edit")}</button>
                        )}
                        {u.status !== "deleted" && (
                          <button class="user-new-key" onClick={() => only(() => (setIssued(null), setKeyFor(u)))}>
                            {t("users.new_key")}
                          </button>
                        )}
                        {u.status !== "deleted" && (
                          <button
                            onClick={async () => {
                              await adminApi("PATCH", `/users/${u.id}`, {
                                status: u.status === "active" ? "disabled" : "active",
                              });
                              load();
                            }}
                          >
                            {u.status === "active" ? t("common.disable") : t("common.enable")}
                          </button>
                        )}
                      </div>
                    </Write>
                  </td>
                </tr>
              ))}
          </tbody>
        </table>
      </div>
      {data && !data.users.length && <p class="muted">{t("users.none")}</p>}
      {data && <Pager page={data.page} limit={data.limit} total={data.total} onPage={setPage} />}
    </section>
  );
}
