// Operator page: every user's API keys, paged, with the owner, status and use; revoke.
import { useState } from "preact/hooks";
import { adminApi, query } from "../api.js";
import { t } from "../i18n.js";
import { ActionButton, Pager, usd } from "../widgets.jsx";
import { localTime, useAdminList } from "./op_list.js";

export function AllKeys() {
  const [page, setPage] = useState(1);
  const [data, load, error] = useAdminList(`/tokens${query({ page, limit: 20 })}`);
  return (
    <section>
      <h2>{t("nav.tokens")}</h2>
      {error && <p class="error">{error}</p>}
      <div class="scroll">
        <table id="tokens-table">
          <thead>
            <tr>
              <th>{t("keys.name")}</th>
              <th>{t("tokens.user")}</th>
              <th>{t("keys.key")}</th>
              <th>{t("keys.status")}</th>
              <th>{t("keys.used")}</th>
              <th>{t("keys.quota")}</th>
              <th>{t("keys.expires_at")}</th>
              <th>{t("tokens.last_used")}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {data &&
              data.tokens.map((k) => (
                <tr key={k.id} data-token={k.id}>
                  <td>{k.name}</td>
                  <td>{k.user_email || k.user_id}</td>
                  <td>
                    <code>{k.key_hint}</code>
                  </td>
                  <td>{t(`status.${k.status}`)}</td>
                  <td>{usd(k.used)}</td>
                  <td>{k.quota === null ? "—" : usd(k.quota)}</td>
                  <td>{k.expires_at ? k.expires_at.slice(0, 10) : "—"}</td>
                  <td>{k.last_used ? localTime(k.last_used) : "—"}</td>
                  <td class="actions">
                    {k.status !== "revoked" && (
                      <ActionButton
                        class="token-revoke"
                        onClick={async () => {
                          await adminApi("DELETE", `/tokens/${k.id}`);
                          await load();
                        }}
                      >
                        {t("keys.revoke")}
                      </ActionButton>
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
