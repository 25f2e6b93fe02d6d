// Balance, spend this month (calendar month, UTC), requests, tokens and cost per day as
// charts, and cost per model as bars. Totals come from the usage summary (the daily
// rollups): the month's spend is the server's exact sum, not one added up here.
import { useEffect, useState } from "preact/hooks";
import { consoleApi } from "../api.js";
import { t } from "../i18n.js";
import { BarChart, RankChart, usd } from "../widgets.jsx";

export function monthStart(now = new Date()) {
  return `${now.toISOString().slice(0, 7)}-01`;
}

export function Dashboard({ me, refresh }) {
  const [summary, setSummary] = useState(null);
  const [month, setMonth] = useState(null);
  const [error, setError] = useState("");
  useEffect(() => {
    refresh();
    const start = new Date(Date.now() - 29 * 86400e3).toISOString().slice(0, 10);
    const fail = (e) => setError(e.message);
    consoleApi("GET", `/usage/summary?start_date=${start}`).then(setSummary, fail);
    consoleApi("GET", `/usage/summary?start_date=${monthStart()}`).then(setMonth, fail);
  }, []);
  const user = me.user;
  const days = summary ? summary.by_day : [];
  return (
    <section>
      <h2>{t("nav.dashboard")}</h2>
      <div class="cards">
        <div class="card">
          <span>{t("dash.balance")}</span>
          <strong id="balance">{usd(user.balance)}</strong>
        </div>
        <div class="card">
          <span>{t("dash.month_spend")}</span>
          <strong id="month-spend">{month ? usd(month.totals.cost) : "…"}</strong>
        </div>
        <div class="card">
          <span>{t("dash.total_spent")}</span>
          <strong>{usd(user.total_usage)}</strong>
        </div>
        <div class="card">
          <span>{t("dash.requests_30d")}</span>
          <strong id="requests-30d">{summary ? summary.totals.requests : "…"}</strong>
        </div>
        <div class="card">
          <span>{t("dash.tokens_30d")}</span>
          <strong>{summary ? summary.totals.total_tokens : "…"}</strong>
        </div>
      </div>
      {error && <p class="error">{error}</p>}
      {summary && (
        <>
          <h3>{t("dash.requests_per_day")}</h3>
          <BarChart label={t("dash.requests_per_day")} points={days.map((d) => ({ x: d.date, y: d.requests }))} />
          <h3>{t("dash.tokens_per_day")}</h3>
          <BarChart label={t("dash.tokens_per_day")} points={days.map((d) => ({ x: d.date, y: d.total_tokens }))} />
          <h3>{t("dash.cost_per_day")}</h3>
          <BarChart label={t("dash.cost_per_day")} points={days.map((d) => ({ x: d.date, y: d.cost }))} />
          <h3>{t("dash.cost_by_model")}</h3>
          <div id="by-model-chart">
            <RankChart
              label={t("dash.cost_by_model")}
              rows={summary.by_model.map((m) => ({ label: m.model, y: m.cost }))}
              format={usd}
            />
          </div>
          <h3>{t("dash.by_model")}</h3>
          <div class="scroll">
            <table id="by-model">
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
