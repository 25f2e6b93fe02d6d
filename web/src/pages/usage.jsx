// Usage rows with filters and paging. The CSV export is the server's (usage.csv): every row
// that matches the filters, streamed page by page, not only the page shown here.
import { useState } from "preact/hooks";
import { consoleApi, query } from "../api.js";
import { t } from "../i18n.js";
import { Pager, usd, useList } from "../widgets.jsx";

export function Usage({ path = "/usage", api = consoleApi }) {
  const [filters, setFilters] = useState({ model: "", start_date: "", end_date: "" });
  const [page, setPage] = useState(1);
  const [data, , error, ask] = useList(api, `${path}${query({ ...filters, page, limit: 50 })}`, {
    usage: [],
    total: 0,
    page: 1,
    limit: 50,
  });

  return (
    <section>
      <h2>{t("nav.usage")}</h2>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          const d = new FormData(e.currentTarget);
          setPage(1);
          setFilters({ model: d.get("model"), start_date: d.get("start_date"), end_date: d.get("end_date") });
          ask();
        }}
      >
        <input name="model" placeholder={t("usage.model")} />
        <input name="start_date" type="date" aria-label={t("usage.from")} />
        <input name="end_date" type="date" aria-label={t("usage.to")} />
        <button type="submit">{t("usage.filter")}</button>
        <a
          class="button"
          id="usage-csv"
          href={`/console/api${path}.csv${query(filters)}`}
          download="usage.csv"
          title={t("usage.csv_all")}
        >
          {t("usage.csv")}
        </a>
      </form>
      {error && <p class="error">{error}</p>}
      <div class="scroll">
        <table id="usage-table">
          <thead>
            <tr>
              <th>{t("usage.time")}</th>
              <th>{t("usage.model")}</th>
              <th>{t("usage.input")}</th>
              <th>{t("usage.output")}</th>
              <th>{t("usage.cached")}</th>
              <th>{t("usage.cache_write")}</th>
              <th>{t("usage.cost")}</th>
              <th>{t("usage.latency")}</th>
              <th>{t("usage.request_id")}</th>
            </tr>
          </thead>
          <tbody>
            {data.usage.map((r) => (
              <tr key={r.id}>
                <td>{r.timestamp.replace("T", " ").replace("Z", "")}</td>
                <td>{r.model}</td>
                <td>{r.prompt_tokens}</td>
                <td>{r.completion_tokens}</td>
                <td>{r.cached_tokens}</td>
                <td>{r.cache_write_tokens}</td>
                <td class="cost">{usd(r.cost)}</td>
                <td>{r.latency_ms} ms</td>
                <td>
                  <code>{r.request_id}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <Pager page={data.page} limit={data.limit} total={data.total} onPage={setPage} />
    </section>
  );
}
