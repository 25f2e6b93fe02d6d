// Small shared pieces: a form that shows the server's message, a pager, a bar chart, and a
// list fetched from the API that shows only the latest request's answer.
import { useEffect, useRef, useState } from "preact/hooks";
import { t } from "./i18n.js";
import { useReadOnly } from "./readonly.js";

export function Form({ onSubmit, submit, children, id, read = false }) {
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  // A read-only operator's pages show no form that writes (`read`: a search or filter).
  if (useReadOnly() && !read) return null;
  async function handle(event) {
    event.preventDefault();
    setError("");
    setBusy(true);
    try {
      await onSubmit(new FormData(event.currentTarget), event.currentTarget);
    } catch (err) {
      setError(err.message || String(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <form class="form" onSubmit={handle} id={id}>
      {children}
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <button type="submit" disabled={busy}>
        {submit}
      </button>
    </form>
  );
}

export function Field({ label, ...input }) {
  return (
    <label class="field">
      <span>{label}</span>
      <input {...input} />
    </label>
  );
}

export function Pager({ page, limit, total, onPage }) {
  const pages = Math.max(1, Math.ceil(total / limit));
  return (
    <div class="pager">
      <button disabled={page <= 1} onClick={() => onPage(page - 1)}>
        {t("pager.prev")}
      </button>
      <span>{t("pager.of", { page, pages, total })}</span>
      <button disabled={page >= pages} onClick={() => onPage(page + 1)}>
        {t("pager.next")}
      </button>
    </div>
  );
}

export function BarChart({ points, label }) {
  // points: [{x, y}]; an SVG that scales to its box (no inline styles: the CSP allows none).
  if (!points.length) return <p class="muted">{t("chart.empty")}</p>;
  const width = 600;
  const height = 160;
  const max = Math.max(...points.map((p) => p.y), 1e-9);
  const bar = Math.min(width / points.length, 48);
  return (
    <svg class="chart" viewBox={`0 0 ${width} ${height + 20}`} role="img" aria-label={label}>
      {points.map((p, i) => {
        const h = (p.y / max) * height;
        return (
          <g key={p.x}>
            <rect x={i * bar + 2} y={height - h} width={Math.max(bar - 4, 1)} height={h}>
              <title>{`${p.x}: ${p.y}`}</title>
            </rect>
            {points.length <= 14 && (
              <text x={i * bar + bar / 2} y={height + 14} text-anchor="middle">
                {p.x.slice(5)}
              </text>
            )}
          </g>
        );
      })}
    </svg>
  );
}

export function usd(value) {
  return `$${Number(value || 0).toFixed(4)}`;
}

export function lines(text) {
  return String(text || "")
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);
}

export function RankChart({ rows, label, format = String }) {
  // rows: [{label, y}], largest first: the top 10 as text over a bar each, so the names stay
  // readable on a phone (a bar's length is an SVG attribute: the CSP allows no inline style).
  const shown = rows.filter((r) => r.y > 0).slice(0, 10);
  if (!shown.length) return <p class="muted">{t("chart.empty")}</p>;
  const max = Math.max(...shown.map((r) => r.y), 1e-9);
  return (
    <ol class="rank" aria-label={label}>
      {shown.map((r, i) => (
        <li key={`${r.label}-${i}`}>
          <span class="rank-label">{r.label}</span>
          <span class="rank-value">{format(r.y)}</span>
          <svg class="rank-bar" viewBox="0 0 100 1" preserveAspectRatio="none" aria-hidden="true">
            <rect width={Math.max((r.y / max) * 100, 0.5)} height="1" />
          </svg>
        </li>
      ))}
    </ol>
  );
}

export function CopyButton({ text, id }) {
  const [done, setDone] = useState(false);
  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // No clipboard API outside a secure context (a gateway on a LAN address over HTTP).
      const area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    setDone(true);
    setTimeout(() => setDone(false), 1500);
  }
  return (
    <button type="button" class="copy" id={id} onClick={copy}>
      {done ? t("keys.copied") : t("keys.copy")}
    </button>
  );
}

export function ActionButton({ onClick, children, ...button }) {
  // A button outside any form (revoke, enable, delete): busy while its call runs, and the
  // server's message beside it when the call fails (a read-only operator's 403, say).
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  async function run() {
    setError("");
    setBusy(true);
    try {
      await onClick();
    } catch (err) {
      setError(err.message || String(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <>
      <button type="button" disabled={busy} onClick={run} {...button}>
        {children}
      </button>
      {error && (
        <span class="error action-error" role="alert">
          {error}
        </span>
      )}
    </>
  );
}

export function useLatest() {
  // A ticket per request; only the latest one's answer is shown. Without it a list asked for
  // while an earlier one is still loading (a search typed at once, a page turned twice)
  // could be overwritten by the earlier answer when that comes back last.
  const latest = useRef(0);
  return () => {
    const mine = ++latest.current;
    return () => mine === latest.current;
  };
}

export function useList(api, path, initial = null) {
  // api("GET", path), again whenever path changes: [data, reload, error, ask]. ask() is for
  // a filter form's button: the list is fetched again after the form's state is set, also
  // when that state leaves path as it was (the same filters, asked again, show the rows
  // written since); once when path changes too.
  const [data, setData] = useState(initial);
  const [error, setError] = useState("");
  const [asked, setAsked] = useState(0);
  const ticket = useLatest();
  const load = () => {
    const current = ticket();
    return api("GET", path).then(
      (d) => current() && (setData(d), setError("")),
      (e) => current() && setError(e.message),
    );
  };
  useEffect(() => {
    load();
  }, [path, asked]);
  return [data, load, error, () => setAsked((n) => n + 1)];
}
