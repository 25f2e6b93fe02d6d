// Operator pages: users, redemption codes, settings (channels, models and all keys have
// their own op_*.jsx). They call the management API with the session (and its CSRF token).
import { useEffect, useState } from "preact/hooks";
import { adminApi, query } from "../api.js";
import { t } from "../i18n.js";
import { ActionButton, Field, Form, Pager, usd } from "../widgets.jsx";

function useList(path, deps = []) {
  const [data, setData] = useState(null);
  const [error, setError] = useState("");
  const load = () => adminApi("GET", path).then((d) => (setData(d), setError("")), (e) => setError(e.message));
  useEffect(() => {
    load();
  }, [path, ...deps]);
  return [data, load, error];
}

export function Users() {
  const [page, setPage] = useState(1);
  const [data, load, error] = useList(`/users${query({ page, limit: 20 })}`);
  const [topping, setTopping] = useState(null);
  return (
    <section>
      <h2>{t("nav.users")}</h2>
      {error && <p class="error">{error}</p>}
      {topping && (
        <Form
          id="topup-form"
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
          <p>{topping.email}</p>
          <Field label={t("topup.amount")} name="amount" type="number" min="0.01" step="any" required />
          <Field label={t("users.note")} name="note" maxLength={200} />
        </Form>
      )}
      <div class="scroll">
        <table id="users-table">
          <thead>
            <tr>
              <th>{t("auth.email")}</th>
              <th>{t("users.group")}</th>
              <th>{t("keys.status")}</th>
              <th>{t("dash.balance")}</th>
              <th>{t("dash.total_spent")}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {data &&
              data.users.map((u) => (
                <tr key={u.id}>
                  <td>
                    {u.email || u.id}
                    {u.name && <div class="muted">{u.name}</div>}
                  </td>
                  <td>{u.group}</td>
                  <td>{t(`status.${u.status}`)}</td>
                  <td>{usd(u.balance)}</td>
                  <td>{usd(u.total_usage)}</td>
                  <td class="actions">
                    <button onClick={() => setTopping(u)}>{t("users.topup")}</button>
                    {u.status !== "deleted" && (
                      <ActionButton
                        onClick={async () => {
                          await adminApi("PATCH", `/users/${u.id}`, {
                            status: u.status === "active" ? "disabled" : "active",
                          });
                          await load();
                        }}
                      >
                        {u.status === "active" ? t("common.disable") : t("common.enable")}
                      </ActionButton>
                    )}
                  </td>
                </tr>
              ))}
          </tbody>
        </table>
      </div>
      {data && <Pager page={data.page} limit={data.limit} total={data.total} onPage={setPage} />}
    </section>
  );
}

export function Redemptions() {
  const [page, setPage] = useState(1);
  const [data, load, error] = useList(`/redemptions${query({ page, limit: 50 })}`);
  const [issued, setIssued] = useState(null);
  return (
    <section>
      <h2>{t("nav.redemptions")}</h2>
      {error && <p class="error">{error}</p>}
      <Form
        id="codes-form"
        submit={t("codes.generate")}
        onSubmit={async (d) => {
          const body = { amount: d.get("amount"), count: Number(d.get("count")), name: d.get("name") || "default" };
          if (d.get("expires_at")) body.expires_at = d.get("expires_at");
          setIssued(await adminApi("POST", "/redemptions", body));
          load();
        }}
      >
        <Field label={t("codes.name")} name="name" maxLength={200} />
        <Field label={t("topup.amount")} name="amount" type="number" min="0.01" step="any" required />
        <Field label={t("codes.count")} name="count" type="number" min="1" max="1000" defaultValue="10" required />
        <Field label={t("keys.expires_at")} name="expires_at" type="date" />
      </Form>
      {issued && (
        <div class="secret" id="issued-codes">
          <p>{t("codes.shown_once")}</p>
          <textarea readOnly rows={Math.min(issued.codes.length, 10)} value={issued.codes.map((c) => c.code).join("\n")} />
          <button onClick={() => setIssued(null)}>{t("keys.done")}</button>
        </div>
      )}
      <div class="scroll">
        <table id="codes-table">
          <thead>
            <tr>
              <th>{t("codes.name")}</th>
              <th>{t("keys.key")}</th>
              <th>{t("topup.amount")}</th>
              <th>{t("keys.status")}</th>
              <th>{t("keys.expires_at")}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {data &&
              data.redemptions.map((r) => (
                <tr key={r.id}>
                  <td>{r.name}</td>
                  <td>
                    <code>{r.code_hint}</code>
                  </td>
                  <td>{usd(r.amount)}</td>
                  <td>{t(`status.${r.status}`)}</td>
                  <td>{r.expires_at ? r.expires_at.slice(0, 10) : "—"}</td>
                  <td>
                    {r.status === "active" && (
                      <ActionButton
                        onClick={async () => {
                          await adminApi("DELETE", `/redemptions/${r.id}`);
                          await load();
                        }}
                      >
                        {t("common.disable")}
                      </ActionButton>
                    )}
                  </td>
                </tr>
              ))}
          </tbody>
        </table>
      </div>
      {data && <Pager page={data.page} limit={data.limit} total={data.total} onPage={setPage} />}
    </section>
  );
}

export function Settings() {
  const [data, load, error] = useList("/settings");
  const [saved, setSaved] = useState(false);
  if (!data) return <section>{error && <p class="error">{error}</p>}</section>;
  return (
    <section>
      <h2>{t("nav.settings")}</h2>
      <Form
        id="settings-form"
        submit={t("models.save")}
        onSubmit={async (d) => {
          await adminApi("PATCH", "/settings", {
            system_name: d.get("system_name"),
            features: {
              registration_enabled: d.get("registration_enabled") === "on",
              email_verification: d.get("email_verification") === "on",
              maintenance_mode: d.get("maintenance_mode") === "on",
            },
          });
          setSaved(true);
          load();
        }}
      >
        <Field label={t("settings.system_name")} name="system_name" defaultValue={data.system_name} required maxLength={200} />
        <label class="check">
          <input type="checkbox" name="registration_enabled" defaultChecked={data.features.registration_enabled} /> {t("settings.registration")}
        </label>
        <label class="check">
          <input type="checkbox" name="email_verification" defaultChecked={data.features.email_verification} /> {t("settings.email_verification")}
        </label>
        <label class="check">
          <input type="checkbox" name="maintenance_mode" defaultChecked={data.features.maintenance_mode} /> {t("settings.maintenance")}
        </label>
      </Form>
      {saved && <p class="notice">{t("settings.saved")}</p>}
      <p class="muted">{t("settings.version", { version: data.version })}</p>
    </section>
  );
}
