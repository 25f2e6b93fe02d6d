// The console: who is signed in decides the pages; the URL fragment names the page.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError, consoleApi, setCsrf } from "./api.js";
import { language, setLanguage, t, useLanguage } from "./i18n.js";
import { AuthPage } from "./pages/auth.jsx";
import { Security, TopUp } from "./pages/billing.jsx";
import { Dashboard } from "./pages/dashboard.jsx";
import { Keys } from "./pages/keys.jsx";
import { Catalogue } from "./pages/models.jsx";
import { Channels } from "./pages/op_channels.jsx";
import { Redemptions } from "./pages/op_codes.jsx";
import { AllKeys } from "./pages/op_keys.jsx";
import { Models } from "./pages/op_models.jsx";
import { Settings } from "./pages/op_settings.jsx";
import { Users } from "./pages/op_users.jsx";
import { Playground } from "./pages/playground.jsx";
import { QuickStart } from "./pages/quickstart.jsx";
import { Traffic } from "./pages/traffic.jsx";
import { Usage } from "./pages/usage.jsx";
import { ReadOnly } from "./readonly.js";
import "./style.css";

const USER_PAGES = ["dashboard", "keys", "usage", "catalog", "playground", "quickstart", "topup", "security"];
const OPERATOR_PAGES = ["users", "channels", "models", "tokens", "traffic", "redemptions", "settings"];

function currentPage() {
  const match = location.hash.match(/^#\/([a-z]+)/);
  return match ? match[1] : "";
}

function App() {
  useLanguage();
  const [config, setConfig] = useState(null);
  const [me, setMe] = useState(undefined);
  const [pending, setPending] = useState(false);
  const [page, setPage] = useState(currentPage());
  const [menu, setMenu] = useState(false);

  const refresh = () =>
    consoleApi("GET", "/me").then(
      (body) => {
        setCsrf(body.csrf_token);
        // Back from the OpenID Connect provider, the second factor is still to come.
        setMe(body.two_factor_required ? null : body);
        setPending(Boolean(body.two_factor_required));
      },
      (err) => {
        if (err instanceof ApiError && err.status === 401) setMe(null);
        else throw err;
      },
    );

  const loadConfig = () => consoleApi("GET", "/config").then(setConfig);
  useEffect(() => {
    loadConfig();
    refresh();
    const onHash = () => (setPage(currentPage()), setMenu(false));
    addEventListener("hashchange", onHash);
    return () => removeEventListener("hashchange", onHash);
  }, []);

  if (!config || me === undefined) return <p class="loading">…</p>;
  const switcher = (
    <select
      id="language"
      aria-label={t("nav.language")}
      value={language()}
      onChange={(e) => setLanguage(e.currentTarget.value)}
    >
      <option value="en">English</option>
      <option value="zh">简体中文</option>
    </select>
  );
  if (!me) {
    return (
      <>
        <header class="bar">{switcher}</header>
        <AuthPage config={config} pending={pending} onSignedIn={(body) => (setMe(body), (location.hash = body.user ? "#/dashboard" : "#/users"))} />
      </>
    );
  }
  const operator = me.role === "operator" || me.role === "viewer";
  const pages = [...(me.user ? USER_PAGES : []), ...(operator ? OPERATOR_PAGES : [])];
  const shown = pages.includes(page) ? page : pages[0];
  const readOnly = me.role === "viewer" && OPERATOR_PAGES.includes(shown);
  const views = {
    dashboard: () => <Dashboard me={me} refresh={refresh} />,
    keys: () => <Keys />,
    usage: () => <Usage />,
    catalog: () => <Catalogue />,
    playground: () => <Playground me={me} refresh={refresh} />,
    quickstart: () => <QuickStart />,
    topup: () => <TopUp config={config} refresh={refresh} />,
    security: () => <Security me={me} refresh={refresh} />,
    users: () => <Users />,
    channels: () => <Channels />,
    models: () => <Models />,
    tokens: () => <AllKeys />,
    traffic: () => <Traffic />,
    redemptions: () => <Redemptions />,
    settings: () => <Settings onSaved={loadConfig} />,
  };
  return (
    <div class="layout">
      <header class="bar">
        <button class="menu" aria-label={t("nav.menu")} onClick={() => setMenu(!menu)}>
          ☰
        </button>
        {config.logo_url && <img class="logo" id="logo" src={config.logo_url} alt="" />}
        <strong>{config.system_name}</strong>
        <span class="who">{me.user ? me.user.email : t("nav.operator")}</span>
        {switcher}
        <button
          id="sign-out"
          onClick={async () => {
            await consoleApi("POST", "/logout");
            sessionStorage.clear(); // the playground's key goes with the session
            setMe(null);
          }}
        >
          {t("nav.sign_out")}
        </button>
      </header>
      <nav class={menu ? "side open" : "side"}>
        {pages.map((name) => (
          <a
            key={name}
            href={`#/${name}`}
            class={name === shown ? "active" : ""}
            id={`nav-${name}`}
            data-scope={OPERATOR_PAGES.includes(name) ? "operator" : "user"}
          >
            {t(`nav.${name}`)}
          </a>
        ))}
      </nav>
      <main class={readOnly ? "content readonly" : "content"}>
        {config.announcement && (
          <p class="announcement" id="announcement" role="status">
            {config.announcement}
          </p>
        )}
        {/* A read-only operator (viewer) reads the operator pages; their writes are hidden. */}
        <ReadOnly.Provider value={readOnly}>{views[shown]()}</ReadOnly.Provider>
      </main>
    </div>
  );
}

setLanguage(language());
render(<App />, document.getElementById("app"));
