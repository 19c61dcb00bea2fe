// A site's 强制检定合格公示 page, opened at /s/{site_id} (mostly from the QR code on the site's poster, on a phone):
// the site's overall verdict first, then one card per instrument under mandatory verification with its state in
// colour, due date and a link to its certificate at the verifier. It reads GET /v1/sites/{site_id}/notice (public);
// everything from the registry goes into textContent (dom.js), never into HTML. Chinese first; the toggle switches
// to English (kept for the next visit when storage allows).

import { $, el } from "./dom.js";

const LANG_KEY = "tracecert.lang";

const TEXT = {
  zh: {
    title: "强制检定计量器具合格公示",
    langButton: "English",
    loading: "正在读取公示…",
    listTitle: "强检器具",
    liveNote: "本页显示实时状态：检定状态由检定机构在 TraceCert 上链的检定证书决定；点击“核验检定证书”可查看证书本身。",
    posterLink: "打印公示海报（A4）",
    region: "行政区划代码 {region}",
    usci: "统一社会信用代码 {usci}",
    verdictSub: "共 {total} 件强检器具，状态日期 {on}（北京时间）",
    model: "型号规格",
    serial: "出厂编号",
    due: "有效期至",
    lastVerified: "最近检定",
    lab: "检定机构",
    none: "—",
    dueSoon: "即将到期，请及时送检",
    verify: "核验检定证书",
    errorTitle: "无法显示公示",
    err_UNKNOWN_SITE: "没有找到这个场所的公示，请核对二维码。",
    err_REQUEST_INVALID: "这个地址不是有效的场所公示地址。",
    err_UNREACHABLE: "暂时无法读取公示，请稍后再试。",
    err_OTHER: "注册服务未能给出公示。",
  },
  en: {
    title: "Mandatory verification notice",
    langButton: "中文",
    loading: "Loading the notice…",
    listTitle: "Instruments under mandatory verification",
    liveNote: "This page shows the live status: it follows the certificates verification labs anchored on TraceCert; " +
      "\"Verify the certificate\" opens the certificate itself.",
    posterLink: "Print the notice poster (A4)",
    region: "Region code {region}",
    usci: "Unified social credit code {usci}",
    verdictSub: "{total} instruments under mandatory verification, as of {on} (China time)",
    model: "Model",
    serial: "Serial number",
    due: "Valid until",
    lastVerified: "Last verified",
    lab: "Verified by",
    none: "—",
    dueSoon: "Due soon: to be verified again",
    verify: "Verify the certificate",
    errorTitle: "The notice cannot be shown",
    err_UNKNOWN_SITE: "No notice of this site was found; check the QR code.",
    err_REQUEST_INVALID: "This address is not a site notice's address.",
    err_UNREACHABLE: "The notice cannot be read right now; try again later.",
    err_OTHER: "The registry did not give the notice.",
  },
};

let lang = pickLanguage();
let notice = null;
let failure = null;

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

function t(key, vars) {
  let s = TEXT[lang][key];
  if (s === undefined) s = key;
  for (const [k, v] of Object.entries(vars || {})) s = s.split("{" + k + "}").join(String(v));
  return s;
}

function siteId() {
  const parts = location.pathname.split("/").filter(Boolean);
  return decodeURIComponent(parts[parts.length - 1] || "");
}

function fact(dl, key, value, cls) {
  dl.append(el("dt", { text: t(key) }), el("dd", { class: cls, "data-key": key, text: value || t("none") }));
}

function card(item) {
  const li = el("li", {
    class: "inst " + item.state + (item.due_soon ? " due-soon" : ""),
    "data-serial": item.serial_number,
    "data-state": item.state,
  });
  li.append(
    el(
      "div",
      { class: "inst-head" },
      el("span", { class: "inst-name", text: item.category }),
      el("span", { class: "state " + item.state, text: item.state_name[lang] }),
    ),
  );
  if (item.due_soon) li.append(el("p", { class: "soon", text: t("dueSoon") }));
  const dl = el("dl", { class: "facts" });
  fact(dl, "due", item.due_date, "due");
  fact(dl, "serial", item.serial_number);
  fact(dl, "model", item.model);
  fact(dl, "lastVerified", item.last_verified);
  fact(dl, "lab", item.lab);
  li.append(dl);
  if (item.verify_url) {
    li.append(el("a", { class: "verify", href: item.verify_url, rel: "noreferrer", text: t("verify") }));
  }
  return li;
}

function render() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  const toggle = $("lang-toggle");
  toggle.textContent = t("langButton");
  toggle.setAttribute("lang", lang === "zh" ? "en" : "zh-CN");
  if (failure) {
    $("status").textContent = "";
    $("error-title").textContent = t("errorTitle");
    $("error-explained").textContent = t("err_" + failure.kind);
    $("error-code").textContent = failure.code || "";
    $("error").hidden = false;
    document.title = t("title");
    return;
  }
  if (!notice) return;
  $("status").textContent = "";
  const { site, enterprise, verdict } = notice;
  document.title = site.name + " — " + t("title");
  $("enterprise-name").textContent = enterprise.name;
  $("site-name").textContent = site.name;
  $("site-meta").textContent = t("region", { region: site.region }) + " · " + t("usci", { usci: enterprise.usci });
  const box = $("verdict");
  box.className =
    "verdict " + { ALL_IN_FORCE: "valid", NOT_ALL_IN_FORCE: "invalid", NONE_REGISTERED: "unknown" }[verdict.code];
  box.dataset.code = verdict.code;
  $("verdict-text").textContent = verdict.text[lang];
  $("verdict-sub").textContent = t("verdictSub", { total: verdict.total, on: notice.on });
  $("cards").replaceChildren(...notice.instruments.map(card));
  $("poster-link").setAttribute("href", "/v1/sites/" + encodeURIComponent(site.id) + "/poster.pdf");
  $("notice").hidden = false;
  $("notice").dataset.ready = "true";
}

async function load() {
  const id = siteId();
  let answer;
  try {
    answer = await fetch("/v1/sites/" + encodeURIComponent(id) + "/notice", { headers: { Accept: "application/json" } });
  } catch (e) {
    failure = { kind: "UNREACHABLE", code: "" };
    return;
  }
  let body = null;
  try {
    body = await answer.json();
  } catch (e) {
    body = null;
  }
  if (answer.ok && body) {
    notice = body;
    return;
  }
  const code = body && body.error ? body.error.code : "HTTP " + answer.status;
  const known = code === "UNKNOWN_SITE" || code === "REQUEST_INVALID";
  failure = { kind: known ? code : answer.status >= 500 ? "UNREACHABLE" : "OTHER", code };
}

$("lang-toggle").addEventListener("click", () => {
  lang = lang === "zh" ? "en" : "zh";
  try {
    localStorage.setItem(LANG_KEY, lang);
  } catch (e) {
    /* not kept */
  }
  render();
});

render();
load().then(render);
