// Sign-in, sign-up (and its "check your mail" step when the gateway verifies addresses),
// the second factor, the operator's key, password reset, the e-mail verification link.
import { useEffect, useState } from "preact/hooks";
import { consoleApi, setCsrf } from "../api.js";
import { t } from "../i18n.js";
import { Field, Form } from "../widgets.jsx";

export function AuthPage({ config, pending, onSignedIn }) {
  const resetToken = (location.hash.match(/reset=([^&]+)/) || [])[1];
  const verifyToken = (location.hash.match(/verify=([^&]+)/) || [])[1];
  const failure = (location.hash.match(/error=(oidc_[a-z_]+)/) || [])[1];
  const [mode, setMode] = useState(
    pending ? "totp" : resetToken ? "reset" : verifyToken ? "verifying" : "login",
  );
  const [notice, setNotice] = useState(failure ? t(`auth.${failure}`) : "");
  // The address a sign-up (or a sign-in) must verify before it can go on.
  const [unverified, setUnverified] = useState("");

  useEffect(() => {
    if (!verifyToken) return;
    history.replaceState(null, "", "/console/");
    consoleApi("POST", "/verify-email", { token: verifyToken })
      .then(() => setNotice(t("auth.email_verified")))
      .catch((err) => setNotice(err.message || String(err)))
      .finally(() => setMode("login"));
  }, []);

  async function signedIn(body) {
    if (body.verification_required) {
      setUnverified(body.email);
      setNotice("");
      setMode("check-mail");
      return;
    }
    setCsrf(body.csrf_token);
    if (body.two_factor_required) setMode("totp");
    else onSignedIn(body);
  }

  async function signIn(data) {
    try {
      return await consoleApi("POST", "/login", {
        email: data.get("email"),
        password: data.get("password"),
      });
    } catch (err) {
      if (err.type === "email_unverified") {
        return { verification_required: true, email: String(data.get("email")).trim() };
      }
      throw err;
    }
  }

  return (
    <main class="auth">
      <h1>{config.system_name}</h1>
      {notice && <p class="notice">{notice}</p>}
      {mode === "login" && (
        <Form
          id="login-form"
          submit={t("auth.sign_in")}
          onSubmit={async (data) => signedIn(await signIn(data))}
        >
          <Field label={t("auth.email")} name="email" type="email" required autocomplete="username" />
          <Field
            label={t("auth.password")}
            name="password"
            type="password"
            required
            autocomplete="current-password"
          />
        </Form>
      )}
      {mode === "signup" && (
        <Form
          id="signup-form"
          submit={t("auth.sign_up")}
          onSubmit={async (data) =>
            signedIn(
              await consoleApi("POST", "/signup", {
                email: data.get("email"),
                password: data.get("password"),
              }),
            )
          }
        >
          <Field label={t("auth.email")} name="email" type="email" required />
          <Field
            label={t("auth.password")}
            name="password"
            type="password"
            minLength={8}
            required
            autocomplete="new-password"
          />
        </Form>
      )}
      {mode === "check-mail" && (
        <Form
          id="check-mail"
          submit={t("auth.resend_link")}
          onSubmit={async () => {
            await consoleApi("POST", "/verify-email/resend", { email: unverified });
            setNotice(t("auth.link_resent"));
          }}
        >
          <h2>{t("auth.check_mail")}</h2>
          <p id="check-mail-text">{t("auth.check_mail_text", { email: unverified })}</p>
        </Form>
      )}
      {mode === "verifying" && <p class="notice">{t("auth.verifying")}</p>}
      {mode === "totp" && (
        <Form
          id="totp-form"
          submit={t("auth.verify")}
          onSubmit={async (data) =>
            signedIn(await consoleApi("POST", "/login/totp", { code: data.get("code") }))
          }
        >
          <Field
            label={t("auth.totp_code")}
            name="code"
            maxLength={40}
            required
            autocomplete="one-time-code"
          />
        </Form>
      )}
      {mode === "operator" && (
        <Form
          id="operator-form"
          submit={t("auth.sign_in")}
          onSubmit={async (data) =>
            signedIn(await consoleApi("POST", "/login/admin", { key: data.get("key") }))
          }
        >
          <Field label={t("auth.management_key")} name="key" type="password" required />
        </Form>
      )}
      {mode === "forgot" && (
        <Form
          id="forgot-form"
          submit={t("auth.send_link")}
          onSubmit={async (data) => {
            await consoleApi("POST", "/password-reset", { email: data.get("email") });
            setNotice(t("auth.link_sent"));
            setMode("login");
          }}
        >
          <Field label={t("auth.email")} name="email" type="email" required />
        </Form>
      )}
      {mode === "reset" && (
        <Form
          id="reset-form"
          submit={t("auth.set_password")}
          onSubmit={async (data) => {
            await consoleApi("POST", "/password-reset/confirm", {
              token: resetToken,
              new_password: data.get("password"),
            });
            history.replaceState(null, "", "/console/");
            setNotice(t("auth.password_set"));
            setMode("login");
          }}
        >
          <Field label={t("auth.new_password")} name="password" type="password" minLength={8} required />
        </Form>
      )}
      <nav class="auth-links">
        {mode !== "login" && <a href="#" onClick={(e) => (e.preventDefault(), setMode("login"))}>{t("auth.sign_in")}</a>}
        {mode !== "signup" && config.registration_enabled && (
          <a href="#" id="to-signup" onClick={(e) => (e.preventDefault(), setMode("signup"))}>
            {t("auth.create_account")}
          </a>
        )}
        {config.password_reset && mode === "login" && (
          <a href="#" onClick={(e) => (e.preventDefault(), setMode("forgot"))}>{t("auth.forgot")}</a>
        )}
        {mode !== "operator" && (
          <a href="#" id="to-operator" onClick={(e) => (e.preventDefault(), setMode("operator"))}>
            {t("auth.operator")}
          </a>
        )}
        {config.oidc && <a href="/console/api/oidc/start">{t("auth.oidc", { name: config.oidc.name })}</a>}
      </nav>
    </main>
  );
}
