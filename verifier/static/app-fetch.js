// Requests of the verifier page: the optional "as of" date every verification carries, and how a refused or failed
// request is shown (the error box with its code; when to retry after a 429).
import { $, errorOf, failureText, showError } from "./common.js";
import { lang, say, t, table } from "./app-text.js";

export function asOfParam() {
  const v = $("as-of-input").value;
  return v ? v : null;
}

export function withAsOf(url) {
  const asOf = asOfParam();
  return asOf ? url + (url.includes("?") ? "&" : "?") + "as_of=" + encodeURIComponent(asOf) : url;
}

// The service could not be reached.
export function unreachable() {
  say(null);
  showError(t("network"));
}

// The service answered with an error (or with something that is not the answer asked for).
export function failed(response, body) {
  say(null);
  const err = errorOf(response, body);
  // The Chinese page says a known refusal in Chinese; the service's own message is English.
  const zh = lang === "zh" ? table("errors", err.code) : null;
  let message = zh && zh !== err.code ? t("errorPrefix") + " — " + err.code + "：" + zh : failureText(err, t);
  const retry = response.headers.get("Retry-After");
  if (response.status === 429 && retry) message += " " + t("retryAfter", { s: retry });
  showError(message, err.code);
}
