// The operator's usage across users: totals over a date range, revenue per day, and the
// totals by model, channel and user, as charts and tables. Revenue is what users were
// charged; cost is what the calls cost upstream (a channel's cost multiplier times the list
// price), known only for calls on channels with one: the margin is over those calls alone.
import { useEffect, useState } from "preact/hooks";
import { adminApi, query } from "../api.js";
import { t } from "../i18n.js";
import { BarChart, Pager, RankChart, usd } from "../widgets.jsx";
import { useAdminList } from "./op_list.js";

const DAY = 86400e3;
const PAGE = 20;

function day(offset) {
  return new Date(Date.now() - offset * DAY).toISOString().slice(0, 10);
}

// Every day of the range, a day without calls at zero (up to a year: longer ranges show
// only the days with calls).
function daily(data) {
  const seen = new Map(data.by_day.map((d) => [d.date, d.cost]));
  if (!data.start_date || !data.end_date) return data.by_day.map((d) => ({ x: d.date, y: d.cost }));
  const first = Date.parse(`${data.start_date}T00:00:00Z`);
  const last = Date.parse(`${data.end_date}T00:00:00Z`);
  if (!(last >= first) || last - first > 366 * DAY) return data.by_day.map((d) => ({ x: d.date, y: d.cost }));
  const points = [];
  for (let at = first; at <= last; at += DAY) {
    const date = new Date(at).toISOString().slice(0, 10);
    points.push({ x: date, y: seen.get(date) || 0 });
  }
  return points;
}

// Cost and margin, or a dash when no call of the row has a known cost.
function known(r, value) {
  return r.cost_known_requests ? usd(value) : "—";
}

function Breakdown({ id, title, rows, name }) {
  const [page, setPage] = useState(1);
  useEffect(() => setPage(1), [rows]);
  const shown = rows.slice((page - 1) * PAGE, page * PAGE);
  return (
    <>
      <h3>{title}</h3>
      <RankChart label={title} format={usd} rows={rows.map((r) => ({ label: name(r), y: r.cost }))} />
      <div class="scroll">
        <table id={id}>
          <thead>
            <tr>
              <th>{title}</th>
              <th>{t("dash.requests")}</th>
              <th>{t("usage.input")}</th>
              <th>{t("usage.output")}</th>
              <th>{t("usage.tokens")}</th>
              <th>{t("traffic.revenue")}</th>
              <th>{t("traffic.cost")}</th>
              <th>{t("traffic.margin")}</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((r) => (
              <tr key={name(r)}>
                <td>{name(r)}</td>
                <td>{r.requests}</td>
                <td>{r.prompt_tokens}</td>
                <td>{r.completion_tokens}</td>
                <td>{r.total_tokens}</td>
                <td>{usd(r.cost)}</td>
                <td class="upstream-cost">{known(r, r.upstream_cost)}</td>
                <td class="margin">{known(r, r.margin)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {rows.length > PAGE && <Pager page={page} limit={PAGE} total={rows.length} onPage={setPage} />}
    </>
  );
}

export function Traffic() {
  const [range, setRange] = useState({ start_date: day(29), end_date: day(0) });
  const [data, , error, ask] = useAdminList(`/usage/summary${query(range)}`);
  return (
    <section>
      <h2>{t("nav.traffic")}</h2>
      <form
        class="filters"
        id="traffic-range"
        onSubmit={(e) => {
          e.preventDefault();
          const d = new FormData(e.currentTarget);
          setRange({ start_date: d.get("start_date"), end_date: d.get("end_date") });
          ask();
        }}
      >
        <input type="date" name="start_date" aria-label={t("usage.from")} defaultValue={range.start_date} />
        <input type="date" name="end_date" aria-label={t("usage.to")} defaultValue={range.end_date} />
        <button type="submit">{t("usage.filter")}</button>
      </form>
      {error && <p class="error">{error}</p>}
      {data && (
        <>
          <div class="cards">
            <div class="card">
              <span>{t("dash.requests")}</span>
              <strong id="traffic-requests">{data.totals.requests}</strong>
            </div>
            <div class="card">
              <span>{t("usage.tokens")}</span>
              <strong id="traffic-tokens">{data.totals.total_tokens}</strong>
            </div>
            <div class="card">
              <span>{t("traffic.revenue")}</span>
              <strong id="traffic-revenue">{usd(data.totals.cost)}</strong>
            </div>
            <div class="card">
              <span>{t("traffic.cost")}</span>
              <strong id="traffic-cost">{known(data.totals, data.totals.upstream_cost)}</strong>
            </div>
            <div class="card">
              <span>{t("traffic.margin")}</span>
              <strong id="traffic-margin">{known(data.totals, data.totals.margin)}</strong>
            </div>
          </div>
          <p class="muted" id="traffic-cost-known">
            {t("traffic.cost_known", { known: data.totals.cost_known_requests, total: data.totals.requests })}
          </p>
          <h3>{t("traffic.per_day")}</h3>
          <BarChart label={t("traffic.per_day")} points={daily(data)} />
          <Breakdown id="traffic-models" title={t("usage.model")} rows={data.by_model} name={(r) => r.model} />
          <Breakdown
            id="traffic-channels"
            title={t("traffic.channel")}
            rows={data.by_channel}
            name={(r) => r.name || r.channel_id || t("traffic.no_channel")}
          />
          <Breakdown id="traffic-users" title={t("traffic.user")} rows={data.by_user} name={(r) => r.email || r.user_id} />
        </>
      )}
    </section>
  );
}
