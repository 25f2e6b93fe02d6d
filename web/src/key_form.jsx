// The fields of an API key, as a user makes their own (keys page) and as an operator makes
// one for a user (users page): the same body for the console's and the management API's
// key routes.
import { t } from "./i18n.js";
import { Field, lines } from "./widgets.jsx";

const PERMISSIONS = ["chat", "embeddings", "images", "audio", "video", "rerank"];
const PERIODS = ["daily", "weekly", "monthly"];
const LIMITS = ["rpm", "tpm", "max_concurrency"];

export function keyBody(data) {
  const body = {
    name: data.get("name"),
    permissions: PERMISSIONS.filter((p) => data.get(`perm-${p}`)),
    models: lines(data.get("models")),
    ip_allowlist: lines(data.get("ip_allowlist")),
  };
  if (!body.models.length) body.models = null;
  if (!body.ip_allowlist.length) body.ip_allowlist = null;
  for (const field of LIMITS) {
    const value = data.get(field);
    body[field] = value === "" ? null : Number(value);
  }
  body.quota = data.get("quota") === "" ? null : data.get("quota");
  body.quota_period = data.get("quota_period") || null;
  body.expires_at = data.get("expires_at") || null;
  return body;
}

function stored(token, field) {
  return token && token[field] !== null && token[field] !== undefined ? token[field] : "";
}

export function KeyFields({ token }) {
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
      <Field label={t("keys.quota")} name="quota" type="number" min="0" step="any" defaultValue={stored(token, "quota")} />
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
      {LIMITS.map((field) => (
        <Field key={field} label={t(`keys.${field}`)} name={field} type="number" min="0" step="1" defaultValue={stored(token, field)} />
      ))}
      <Field label={t("keys.expires_at")} name="expires_at" type="date" defaultValue={token && token.expires_at ? token.expires_at.slice(0, 10) : ""} />
    </>
  );
}
