// Talking to the registry with the regulator's token, and signing in and out.
//
// The token is typed once; it is kept in this tab's sessionStorage (gone when the tab closes) and sent only in the
// Authorization header: never in an address, never written to the console. A refused token signs out.

import { $ } from "./dom.js";
import { has, t } from "./i18n.js";

const TOKEN_KEY = "tracecert.regulator.token";

let token = null;
// The last answers, drawn again when the language changes.
export const shown = { findings: null, signals: null, impact: null, draws: null, draw: null };
// Each view's latest request: an older answer arriving late is dropped.
export const latest = { findings: 0, signals: 0, impact: 0, draws: 0, draw: 0 };
// What the page does once signed in (open the tab the address names) and on signing out (drop the chart).
const hooks = { signedIn: () => {}, signedOut: () => {} };

export function onSession(signedIn, signedOut) {
  hooks.signedIn = signedIn;
  hooks.signedOut = signedOut;
}

// The token kept in this tab by an earlier sign-in, if any.
export function keptToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch (e) {
    return null;
  }
}

export function say(key, vars) {
  $("status").textContent = key ? t(key, vars) : "";
  document.body.classList.toggle("busy", Boolean(key));
}

export function showError(error) {
  const box = $("error");
  if (!error) {
    box.hidden = true;
    box.removeAttribute("data-code");
    return;
  }
  box.dataset.code = error.code;
  $("error-code").textContent = error.code;
  $("error-explained").textContent = has("err_" + error.code) ? t("err_" + error.code) : "";
  $("error-message").textContent = error.message || "";
  box.hidden = false;
}

// GET ``path`` (or ``send.method`` it with ``send.body`` as JSON) with ``key`` (default: the signed-in token) in the
// Authorization header. Returns {ok, status, body|blob, response} or {ok: false, error}; never throws.
export async function request(path, key, as, send) {
  const headers = { Authorization: "Bearer " + (key || token || ""), Accept: as === "blob" ? "text/csv" : "application/json" };
  const init = { headers, cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer" };
  if (send) {
    init.method = send.method;
    init.body = JSON.stringify(send.body);
    headers["Content-Type"] = "application/json";
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (e) {
    return { ok: false, status: 0, error: { code: "NETWORK", message: t("network") } };
  }
  if (response.ok && as === "blob") return { ok: true, status: response.status, blob: await response.blob(), response };
  let body = null;
  try {
    body = await response.json();
  } catch (e) {
    body = null;
  }
  if (!response.ok || !body || body.error) {
    const error = body && body.error ? body.error : { code: "HTTP_" + response.status, message: response.statusText };
    return { ok: false, status: response.status, error };
  }
  return { ok: true, status: response.status, body, response };
}

// A read (or with ``send``, a write) for the signed-in regulator: its answer, or null after showing why not (a
// refused token signs out).
export async function read(path, as, send) {
  const answer = await request(path, null, as, send);
  if (answer.ok) return answer;
  showError(answer.error);
  if (answer.status === 401) signOut(false);
  return null;
}

// ------------------------------------------------------------------ signing in and out

export async function signIn(candidate, quiet) {
  if (!candidate) {
    showError({ code: "UNAUTHORIZED", message: t("tokenMissing") });
    return;
  }
  say("checking");
  const answer = await request("/v1/fraud-signals?limit=1", candidate);
  say(null);
  if (!answer.ok) {
    try {
      sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) {
      /* nothing kept */
    }
    if (!quiet || answer.status !== 401) showError(answer.error);
    showLogin();
    return;
  }
  token = candidate;
  try {
    sessionStorage.setItem(TOKEN_KEY, candidate);
  } catch (e) {
    /* kept in memory only: a reload asks again */
  }
  showError(null);
  $("token-input").value = "";
  $("login").hidden = true;
  $("app").hidden = false;
  $("logout").hidden = false;
  hooks.signedIn();
}

export function showLogin() {
  $("app").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  $("token-input").focus();
}

export function signOut(clearError) {
  token = null;
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch (e) {
    /* nothing kept */
  }
  for (const k of Object.keys(shown)) shown[k] = null;
  for (const k of Object.keys(latest)) latest[k] += 1;
  hooks.signedOut();
  for (const id of ["findings-result", "signals-result", "impact-result", "draws-result", "draw-detail"]) $(id).hidden = true;
  for (const id of ["findings-table", "by-code-table", "signals-table", "impact-table", "draws-table", "draw-sample",
    "draw-facts", "draw-population", "result-table"]) {
    $(id).replaceChildren();
  }
  if (clearError) showError(null);
  say(null);
  showLogin();
}
