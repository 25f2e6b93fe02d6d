// The model catalogue as the signed-in user pays it: the models their keys may call, the
// endpoints each serves, and every price after the user's group multiplier.
import { useEffect, useState } from "preact/hooks";
import { consoleApi } from "../api.js";
import { t } from "../i18n.js";

// The order prices are listed in; a price the console does not know is shown by its name.
const PRICES = [
  "input",
  "output",
  "cached_input",
  "cache_write_5m",
  "cache_write_1h",
  "per_request",
  "per_image",
  "per_video_second",
  "per_million_characters",
  "per_audio_minute",
];

// Prices are exact to 1e-10 USD: show every digit a price has, never fewer than two.
export function price(value) {
  const text = Number(value).toFixed(10).replace(/0+$/, "");
  const [whole, part = ""] = text.split(".");
  return `$${whole}.${part.padEnd(2, "0")}`;
}

function label(name) {
  const key = `price.${name}`;
  const text = t(key);
  return text === key ? name : text;
}

function Prices({ pricing }) {
  const names = Object.keys(pricing).sort(
    (a, b) => (PRICES.indexOf(a) + 1 || 99) - (PRICES.indexOf(b) + 1 || 99),
  );
  return (
    <dl class="prices">
      {names.map((name) => {
        const value = pricing[name];
        return (
          <div key={name} data-price={name}>
            <dt>{label(name)}</dt>
            <dd>
              {typeof value === "object"
                ? Object.entries(value).map(([size, v]) => (
                    <span key={size} class="price-entry">
                      {size}: {price(v)}
                    </span>
                  ))
                : price(value)}
            </dd>
          </div>
        );
      })}
    </dl>
  );
}

export function Catalogue() {
  const [data, setData] = useState(null);
  const [error, setError] = useState("");
  useEffect(() => {
    consoleApi("GET", "/models").then(setData, (e) => setError(e.message));
  }, []);
  return (
    <section>
      <h2>{t("nav.catalog")}</h2>
      {error && <p class="error">{error}</p>}
      {data && (
        <>
          <p class="muted">{t(data.basis === "keys" ? "catalog.intro_keys" : "catalog.intro_account")}</p>
          {data.multiplier !== 1 && (
            <p class="notice" id="catalog-multiplier">
              {t("catalog.multiplier", { group: data.group, multiplier: data.multiplier })}
            </p>
          )}
          {data.models.length === 0 ? (
            <p class="muted">{t("catalog.empty")}</p>
          ) : (
            <div class="scroll">
              <table id="catalog-table">
                <thead>
                  <tr>
                    <th>{t("catalog.model")}</th>
                    <th>{t("catalog.endpoints")}</th>
                    <th>{t("catalog.prices")}</th>
                  </tr>
                </thead>
                <tbody>
                  {data.models.map((m) => (
                    <tr key={m.id} data-model={m.id}>
                      <td>
                        <code>{m.id}</code>
                      </td>
                      <td>{m.endpoints.join(", ")}</td>
                      <td>
                        <Prices pricing={m.pricing} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </section>
  );
}
