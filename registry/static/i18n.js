// The page's language: picked from ?lang=, else the one kept in localStorage, else Chinese; the texts are in
// texts.js. ``lang`` is a live binding: modules importing it see the language the toggle last chose.

import { $ } from "./dom.js";
import { TEXT } from "./texts.js";

const LANG_KEY = "tracecert.lang";

export let lang = pickLanguage();

function pickLanguage() {
  const fromUrl = new URLSearchParams(location.search).get("lang");
  if (fromUrl === "zh" || fromUrl === "en") return fromUrl;
  try {
    const stored = localStorage.getItem(LANG_KEY);
    if (stored === "zh" || stored === "en") return stored;
  } catch (e) {
    /* storage refused: Chinese */
  }
  return "zh";
}

export function t(key, vars) {
  let s = TEXT[lang][key];
  if (s === undefined) s = key;
  for (const [k, v] of Object.entries(vars || {})) s = s.split("{" + k + "}").join(String(v));
  return s;
}

export function has(key) {
  return TEXT[lang][key] !== undefined;
}

// The toggle: the other language, kept for the next visit (when storage allows).
export function toggleLanguage() {
  lang = lang === "zh" ? "en" : "zh";
  try {
    localStorage.setItem(LANG_KEY, lang);
  } catch (e) {
    /* not kept */
  }
}

export function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = t("pageTitle");
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  $("lang-toggle").textContent = t("langButton");
  $("lang-toggle").setAttribute("lang", lang === "zh" ? "en" : "zh-CN");
  const error = $("error");
  if (!error.hidden && error.dataset.code) {
    const code = error.dataset.code;
    $("error-explained").textContent = has("err_" + code) ? t("err_" + code) : "";
  }
}
