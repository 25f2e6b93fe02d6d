// Top-up (Stripe Checkout), redemption codes, and the account's security.
import { useState } from "preact/hooks";
import { consoleApi } from "../api.js";
import { t } from "../i18n.js";
import { Field, Form, usd } from "../widgets.jsx";

export function TopUp({ config, refresh }) {
  const [result, setResult] = useState("");
  return (
    <section>
      <h2>{t("nav.topup")}</h2>
      <h3>{t("topup.redeem")}</h3>
      <Form
        id="redeem-form"
        submit={t("topup.redeem_button")}
        onSubmit={async (data, form) => {
          const body = await consoleApi("POST", "/redeem", { code: data.get("code") });
          setResult(t("topup.redeemed", { amount: usd(body.amount), balance: usd(body.new_balance) }));
          form.reset();
          refresh();
        }}
      >
        <Field label={t("topup.code")} name="code" required maxLength={100} autocomplete="off" />
      </Form>
      {result && (
        <p class="notice" id="redeem-result">
          {result}
        </p>
      )}
      <h3>{t("topup.card")}</h3>
      {config.stripe ? (
        <Form
          id="checkout-form"
          submit={t("topup.pay")}
          onSubmit={async (data) => {
            const body = await consoleApi("POST", "/checkout", {
              amount: data.get("amount"),
              success_url: `${location.origin}/console/#/dashboard`,
              cancel_url: `${location.origin}/console/#/topup`,
            });
            location.href = body.url;
          }}
        >
          <Field label={t("topup.amount")} name="amount" type="number" min="1" step="0.01" required />
        </Form>
      ) : (
        // The operator's own words (a setting, plain text) when set; else a fixed sentence.
        <p class="muted instructions" id="topup-instructions">
          {config.topup_instructions || t("topup.no_stripe")}
        </p>
      )}
    </section>
  );
}

export function Security({ me, refresh }) {
  const [setup, setSetup] = useState(null);
  const [notice, setNotice] = useState("");
  const [recovery, setRecovery] = useState(null);
  return (
    <section>
      <h2>{t("nav.security")}</h2>
      {notice && (
        <p class="notice" id="security-notice">
          {notice}
        </p>
      )}
      <h3>{t("security.password")}</h3>
      <Form
        id="password-form"
        submit={t("security.change")}
        onSubmit={async (data, form) => {
          await consoleApi("POST", "/password", {
            current_password: data.get("current"),
            new_password: data.get("new"),
          });
          form.reset();
          setNotice(t("security.changed"));
        }}
      >
        <Field label={t("security.current")} name="current" type="password" required autocomplete="current-password" />
        <Field label={t("auth.new_password")} name="new" type="password" minLength={8} required autocomplete="new-password" />
      </Form>
      <h3>{t("security.totp")}</h3>
      {recovery && (
        <div class="secret" id="recovery-codes">
          <p>{t("security.recovery")}</p>
          <textarea readOnly rows={recovery.length} value={recovery.join("\n")} />
          <button onClick={() => setRecovery(null)}>{t("keys.done")}</button>
        </div>
      )}
      {me.two_factor ? (
        <Form
          submit={t("security.totp_off")}
          onSubmit={async (data) => {
            await consoleApi("POST", "/totp/disable", { code: data.get("code") });
            refresh();
          }}
        >
          <Field label={t("auth.totp_code")} name="code" inputMode="numeric" required />
        </Form>
      ) : setup ? (
        <Form
          id="totp-enable-form"
          submit={t("security.totp_on")}
          onSubmit={async (data) => {
            const body = await consoleApi("POST", "/totp/enable", { code: data.get("code") });
            setRecovery(body.recovery_codes);
            setSetup(null);
            refresh();
          }}
        >
          <p>{t("security.totp_scan")}</p>
          <code id="totp-secret">{setup.secret}</code>
          <Field label={t("auth.totp_code")} name="code" inputMode="numeric" required />
        </Form>
      ) : (
        <button id="totp-setup" onClick={async () => setSetup(await consoleApi("POST", "/totp/setup"))}>
          {t("security.totp_setup")}
        </button>
      )}
    </section>
  );
}
