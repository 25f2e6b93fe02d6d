// Operator page: settings. The name and logo, sign-up, maintenance, the announcement every
// signed-in user sees, the top-up instructions (where there is no Stripe checkout), and the
// default limits of keys that set none (0: no limit; per-group and per-model limits are
// set through the management API). A read-only operator sees them, not the form.
import { Fragment } from "preact";
import { useState } from "preact/hooks";
import { adminApi } from "../api.js";
import { t } from "../i18n.js";
import { useReadOnly } from "../readonly.js";
import { Field, Form } from "../widgets.jsx";
import { useAdminList } from "./op_list.js";

const LIMITS = ["requests_per_minute", "tokens_per_minute", "requests_per_day", "max_concurrency"];

function Shown({ data }) {
  const rows = [
    [t("settings.system_name"), data.system_name],
    [t("settings.logo_url"), data.logo_url || "—"],
    [t("settings.registration"), data.features.registration_enabled ? "✓" : "✗"],
    [t("settings.email_verification"), data.features.email_verification ? "✓" : "✗"],
    [t("settings.maintenance"), data.features.maintenance_mode ? "✓" : "✗"],
    [t("settings.announcement"), data.announcement || "—"],
    [t("settings.topup_instructions"), data.topup_instructions || "—"],
    ...LIMITS.map((name) => [t(`settings.${name}`), String(data.rate_limits[name] ?? 0)]),
  ];
  return (
    <dl class="shown" id="settings-shown">
      {rows.map(([label, value]) => (
        <Fragment key={label}>
          <dt>{label}</dt>
          <dd>{value}</dd>
        </Fragment>
      ))}
    </dl>
  );
}

export function Settings({ onSaved }) {
  const [data, load, error] = useAdminList("/settings");
  const [saved, setSaved] = useState(false);
  const readOnly = useReadOnly();
  if (!data) return <section>{error && <p class="error">{error}</p>}</section>;
  return (
    <section>
      <h2>{t("nav.settings")}</h2>
      {readOnly ? (
        <Shown data={data} />
      ) : (
        <Form
          id="settings-form"
          submit={t("models.save")}
          onSubmit={async (d) => {
            setSaved(false);
            const limits = {};
            for (const name of LIMITS) limits[name] = Number(d.get(name) || 0);
            await adminApi("PATCH", "/settings", {
              system_name: d.get("system_name"),
              logo_url: d.get("logo_url").trim(),
              announcement: d.get("announcement"),
              topup_instructions: d.get("topup_instructions"),
              features: {
                registration_enabled: d.get("registration_enabled") === "on",
                email_verification: d.get("email_verification") === "on",
                maintenance_mode: d.get("maintenance_mode") === "on",
              },
              rate_limits: limits,
            });
            setSaved(true);
            load();
            if (onSaved) onSaved();
          }}
        >
          <Field label={t("settings.system_name")} name="system_name" defaultValue={data.system_name} required maxLength={200} />
          <Field
            label={t("settings.logo_url")}
            name="logo_url"
            defaultValue={data.logo_url}
            maxLength={2000}
            placeholder="https://… /logo.png"
          />
          <label class="check">
            <input type="checkbox" name="registration_enabled" defaultChecked={data.features.registration_enabled} /> {t("settings.registration")}
          </label>
          <label class="check">
            <input type="checkbox" name="email_verification" defaultChecked={data.features.email_verification} /> {t("settings.email_verification")}
          </label>
          <label class="check">
            <input type="checkbox" name="maintenance_mode" defaultChecked={data.features.maintenance_mode} /> {t("settings.maintenance")}
          </label>
          <label class="field">
            <span>{t("settings.announcement")}</span>
            <textarea name="announcement" maxLength={2000} defaultValue={data.announcement} />
          </label>
          <label class="field">
            <span>{t("settings.topup_instructions")}</span>
            <textarea name="topup_instructions" maxLength={4000} defaultValue={data.topup_instructions} />
          </label>
          <fieldset class="limits">
            <legend>{t("settings.default_limits")}</legend>
            {LIMITS.map((name) => (
              <Field
                key={name}
                label={t(`settings.${name}`)}
                name={name}
                type="number"
                min="0"
                max="2147483647"
                step="1"
                defaultValue={String(data.rate_limits[name] ?? 0)}
                required
              />
            ))}
          </fieldset>
        </Form>
      )}
      {saved && <p class="notice">{t("settings.saved")}</p>}
      <p class="muted">{t("settings.version", { version: data.version })}</p>
    </section>
  );
}
