// TraceCert verifier page: drop a file, type a number or a digest, or open /c/{digest} from a QR code.
// Everything here is local (no CDN, no build step): native ES modules served from /static. Text from a report is
// untrusted: it only ever goes into textContent or SVG text nodes, never into HTML.
// This module asks for verifications and wires the page; the others are app-text.js (texts, language, status line),
// app-fetch.js (requests and errors), app-verdict.js (the verdict and checks), app-trace.js (the traceability graph),
// app-credit.js (the lab's credit and the credit lookup), app-bulk.js (bulk verification: a ZIP, a CSV, many files),
// and common.js (what directory.js shares).
import { $, requestJson, showError } from "./common.js";
import { initBulk, renderBulk } from "./app-bulk.js";
import { lastCredit, lookupCredit, renderCredit } from "./app-credit.js";
import { asOfParam, failed, unreachable, withAsOf } from "./app-fetch.js";
import { lang, say, sayAgain, t, toggleLang } from "./app-text.js";
import { render, renderCannotVerify } from "./app-verdict.js";

const DIGEST_RE = /^(0x)?[0-9a-fA-F]{64}$/;
const QR_PATH = /^\/c\/([^/]+)\/?$/; // a certificate's QR code links here

let lastReport = null;
let cannotVerify = false; // the last verification had no answer (shown as "cannot verify")

// ------------------------------------------------------------------ language

function applyLanguage() {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  document.title = t("title");
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  $("lang-toggle").textContent = t("langButton");
  $("lang-toggle").setAttribute("lang", lang === "zh" ? "en" : "zh-CN");
  if (lastReport) render(lastReport);
  else if (cannotVerify) renderCannotVerify();
  if (lastCredit) renderCredit(lastCredit);
  renderBulk();
  sayAgain();
}

function toggleLanguage() {
  toggleLang();
  applyLanguage();
}

// ------------------------------------------------------------------ verification

async function run(request) {
  showError(null);
  if (request.files) say("uploading", { n: request.files.length });
  else say("verifying");
  let answer;
  if (request.files) {
    const form = new FormData();
    for (const f of request.files) form.append("file", f, f.name);
    const asOf = asOfParam();
    if (asOf) form.append("as_of", asOf);
    answer = await requestJson("/v1/verify", { method: "POST", body: form });
  } else {
    answer = await requestJson(withAsOf(request.url), { headers: { Accept: "application/json" } });
  }
  if (!answer) {
    unreachable();
    noVerdict(request);
    return;
  }
  const { response, body } = answer;
  if (!response.ok || !body || !body.verdict) {
    failed(response, body);
    noVerdict(request);
    return;
  }
  lastReport = body;
  cannotVerify = false;
  render(body);
  say("done", { verdict: body.unknown ? "UNKNOWN" : body.verdict });
  if (request.fromForm) showResult();
}

// The verification had no answer: the verdict box says so (the error box says why, with its code).
function noVerdict(request) {
  lastReport = null;
  cannotVerify = true;
  renderCannotVerify();
  if (request.fromForm) showResult();
}

// On the QR layout the forms are below the result: an answer to one of them is scrolled into view.
function showResult() {
  if (document.body.classList.contains("qr-view")) $("status").scrollIntoView({ block: "start" });
}

function verifyDigest(raw, push) {
  let digest = raw.trim();
  const fromLink = digest.match(/\/c\/((0x)?[0-9a-fA-F]{64})/);
  if (fromLink) digest = fromLink[1];
  if (!DIGEST_RE.test(digest)) {
    showError(t("badDigest"), "INVALID_DIGEST");
    if (!push) noVerdict({}); // the link itself (a QR code's) is wrong: nothing can be verified
    return;
  }
  if (!digest.startsWith("0x")) digest = "0x" + digest;
  digest = digest.toLowerCase();
  if (push && location.pathname !== "/c/" + digest) history.pushState({}, "", "/c/" + digest + location.search);
  $("digest-input").value = digest;
  run({ url: "/v1/certificates/" + digest + "/verification", fromForm: push });
}

function verifyNumber(lab, number) {
  if (!lab.trim() || !number.trim()) {
    showError(t("needLabAndNumber"), "REQUEST_INVALID");
    return;
  }
  const url =
    "/v1/labs/" + encodeURIComponent(lab.trim()) + "/certificates/" + encodeURIComponent(number.trim()) + "/verification";
  run({ url: url, fromForm: true });
}

function verifyFiles(fileList) {
  const files = Array.from(fileList || []);
  if (files.length) run({ files: files, fromForm: true });
}

// ------------------------------------------------------------------ wiring

// Opened from a certificate's QR code (/c/{digest}), mostly on a phone: the verdict first, the forms after the
// result (with the credit lookup's answer after them). Opened at /, the forms come first, as they were. Decided
// once, when the page is loaded: going back and forth in the history does not move the forms under one's hand.
function qrLayout() {
  const below = $("other-check");
  document.body.classList.add("qr-view");
  below.append(document.querySelector(".inputs"));
  below.after($("credit"));
  below.hidden = false;
}

function route(push) {
  const m = location.pathname.match(QR_PATH);
  const asOf = new URLSearchParams(location.search).get("as_of");
  if (asOf && /^\d{4}-\d{2}-\d{2}$/.test(asOf)) $("as-of-input").value = asOf;
  if (m) verifyDigest(decodeURIComponent(m[1]), push);
}

function init() {
  if (QR_PATH.test(location.pathname)) qrLayout();
  applyLanguage();
  $("lang-toggle").addEventListener("click", toggleLanguage);
  initBulk();
  $("file-input").addEventListener("change", (e) => {
    verifyFiles(e.target.files);
    e.target.value = "";
  });
  const zone = $("dropzone");
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (e) => {
      e.preventDefault();
      zone.classList.add("over");
    });
  }
  for (const type of ["dragleave", "drop"]) {
    zone.addEventListener(type, () => zone.classList.remove("over"));
  }
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    verifyFiles(e.dataTransfer ? e.dataTransfer.files : null);
  });
  $("digest-form").addEventListener("submit", (e) => {
    e.preventDefault();
    verifyDigest($("digest-input").value, true);
  });
  $("credit-form").addEventListener("submit", (e) => {
    e.preventDefault();
    lookupCredit($("credit-input").value);
  });
  $("number-form").addEventListener("submit", (e) => {
    e.preventDefault();
    verifyNumber($("lab-input").value, $("number-input").value);
  });
  window.addEventListener("popstate", () => route(false));
  route(false);
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
else init();
