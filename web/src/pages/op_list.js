// What the operator pages share: a management-API list that reloads (with its error), local
// times, and CSV downloads.
import { adminApi } from "../api.js";
import { useList } from "../widgets.jsx";

export function useAdminList(path) {
  return useList(adminApi, path);
}

export function localTime(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

function cell(value) {
  // Quoted always; a leading = + - @ is prefixed so a spreadsheet never runs it as a formula.
  let text = value === null || value === undefined ? "" : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return `"${text.replaceAll('"', '""')}"`;
}

export function csvText(header, rows) {
  return [header, ...rows].map((row) => row.map(cell).join(",")).join("\r\n") + "\r\n";
}

export function downloadCsv(filename, header, rows) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([csvText(header, rows)], { type: "text/csv;charset=utf-8" }));
  link.download = filename;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}
