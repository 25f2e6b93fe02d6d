// Operator page: redemption codes. Generate a batch (its codes shown once, with a CSV
// download of them), list and disable codes, export the list as CSV (hints only: the codes
// themselves are never stored).
import { useState } from "preact/hooks";
import { adminApi, query } from "../api.js";
import { t } from "../i18n.js";
import { Write } from "../readonly.js";
import { Field, Form, Pager, usd } from "../widgets.jsx";
import { downloadCsv, useAdminList } from "./op_list.js";

const STATUSES = ["active", "redeemed", "disabled"];
const EXPORT_PAGE = 200;

function batchCsv(batch) {
  const name = batch.name.replace(/[^\w.-]+/g, "_").slice(0, 60) || "codes";
  downloadCsv(
    `codes-${name}.csv`,
    ["code", "amount_usd", "batch", "expires_at"],
    batch.codes.map((c) => [c.code, batch.amount, batch.name, batch.expires_at || ""]),
  );
}

async function listCsv(status) {
  // Every page of the list as it is filtered, not only the page on screen.
  const rows = [];
  for (let page = 1; ; page++) {
    const d = await adminApi("GET", `/redemptions${query({ page, limit: EXPORT_PAGE, status })}`);
    for (const r of d.redemptions) {
      rows.push([r.id, r.name, r.code_hint, r.amount, r.status, r.expires_at || "", r.created_at || "", r.redeemed_by || "", r.redeemed_at || ""]);
    }
    if (page * d.limit >= d.total || !d.redemptions.length) break;
  }
  downloadCsv(
    "redemption-codes.csv",
    ["id", "batch", "code_hint", "amount_usd", "status", "expires_at", "created_at", "redeemed_by", "redeemed_at"],
    rows,
  );
}

export function Redemptions() {
  const [page, setPage] = useState(1);
  const [status, setStatus] = useState("");
  const [data, load, error] = useAdminList(`/redemptions${query({ page, limit: 50, status })}`);
  const [issued, setIssued] = useState(null);
  const [exportError, setExportError] = useState("");
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
          <div class="actions">
            <button type="button" id="codes-batch-csv" onClick={() => batchCsv(issued)}>
              {t("codes.batch_csv")}
            </button>
            <button type="button" onClick={() => setIssued(null)}>
              {t("keys.done")}
            </button>
          </div>
        </div>
      )}
      <div class="filters">
        <select
          id="codes-status"
          aria-label={t("keys.status")}
          value={status}
          onChange={(e) => (setStatus(e.currentTarget.value), setPage(1))}
        >
          <option value="">{t("codes.all")}</option>
          {STATUSES.map((s) => (
            <option key={s} value={s}>
              {t(`status.${s}`)}
            </option>
          ))}
        </select>
        <button
          type="button"
          id="codes-list-csv"
          onClick={() => (setExportError(""), listCsv(status).catch((e) => setExportError(e.message)))}
        >
          {t("codes.list_csv")}
        </button>
      </div>
      {exportError && <p class="error">{exportError}</p>}
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
                      <Write>
                        <button
                          onClick={async () => {
                            await adminApi("DELETE", `/redemptions/${r.id}`);
                            load();
                          }}
                        >
                          {t("common.disable")}
                        </button>
                      </Write>
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
