// Balance, spend, and cost per day as a chart; per-model totals.
import { useEffect, useState } from "preact/hooks";
import { consoleApi } from "../api.js";
import { t } from "../i18n.js";
import { BarChart, usd } from "../widgets.jsx";

export function Dashboard({ me, refresh }) {
  const [summary, setSummary] = useState(null);
  const [error, setError] = useState("");
  useEffect(() => {
    refresh();
    const start = new Date(Date.now() - 29 * 86400e3).toISOString().slice(0, 10);
    consoleApi("GET", `/usage/summary?start_date=${start}`).then(setSummary, (e) => setError(e.message));
  }, []);
  const user = me.user;
  return (
    <section>
      <h2>{t("nav.dashboard")}</h2>
      <div class="cards">
        <div class="card">
          <span>{t("dash.balance")}</span>
          <strong id="balance">{usd(user.balance)}</strong>
        </div>
        <div class="card">
          <span>{t("dash.total_spent")}</span>
          <strong>{usd(user.total_usage)}</strong>
        </div>
        <div class="card">
          <span>{t("dash.requests_30d")}</span>
          <strong>{summary ? summary.totals.requests : "…"}</strong>
        </div>
        <div class="card">
          <span>{t("dash.tokens_30d")}</span>
          <strong>{summary ? summary.totals.total_tokens : "…"}</strong>
        </div>
      </div>
      {error && <p class="error">{error}</p>}
      {summary && (
        <>
          <h3>{t("dash.cost_per_day")}</h3>
          <BarChart
            label={t("dash.cost_per_day")}
            points={summary.by_day.map((d) => ({ x: d.date, y: d.cost }))}
          />
          <h3>{t("dash.by_model")}</h3>
          <div class="scroll">
      <table>
            <thead>
              <tr>
                <th>{t("usage.model")}</th>
                <th>{t("dash.requests")}</th>
                <th>{t("usage.tokens")}</th>
                <th>{t("usage.cost")}</th>
              </tr>
            </thead>
            <tbody>
              {summary.by_model.map((m) => (
                <tr key={m.model}>
                  <td>{m.model}</td>
                  <td>{m.requests}</td>
                  <td>{m.total_tokens}</td>
                  <td>{usd(m.cost)}</td>
                </tr>
              ))}
            </tbody>
          </table>
      </div>
        </>
      )}
    </section>
  );
}
