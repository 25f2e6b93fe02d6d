// Two catalogs, English and Simplified Chinese, with the same keys (a test checks it).
// The language is the one chosen last, else the browser's.
import { useEffect, useState } from "preact/hooks";
import en from "./i18n/en.json";
import zh from "./i18n/zh.json";

export const CATALOGS = { en, zh };
const listeners = new Set();

function initial() {
  const saved = globalThis.localStorage && localStorage.getItem("airelay.lang");
  if (saved && CATALOGS[saved]) return saved;
  const browser = (navigator.language || "en").toLowerCase();
  return browser.startsWith("zh") ? "zh" : "en";
}

let current = initial();

export function language() {
  return current;
}

export function setLanguage(lang) {
  current = CATALOGS[lang] ? lang : "en";
  localStorage.setItem("airelay.lang", current);
  document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
  for (const listener of listeners) listener(current);
}

export function t(key, vars) {
  let text = CATALOGS[current][key] ?? CATALOGS.en[key] ?? key;
  for (const [name, value] of Object.entries(vars || {})) {
    text = text.replaceAll(`{${name}}`, String(value));
  }
  return text;
}

export function useLanguage() {
  const [lang, setLang] = useState(current);
  useEffect(() => {
    listeners.add(setLang);
    return () => listeners.delete(setLang);
  }, []);
  return lang;
}
