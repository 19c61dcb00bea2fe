// What both views of the verifier page share (app.js: verification and credit; directory.js: the lab directory):
// building elements, filling a text in the page's language, the error box, names and credit grades from an answer,
// and reading a JSON answer. Text from an answer only ever goes into textContent, never into HTML.

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

// A page's t(key, vars): the text in the language ``currentLang()`` names, Chinese when that one lacks it, the key
// itself when neither has it; each {name} filled from ``vars``.
export function translator(texts, currentLang) {
  return function t(key, vars) {
    let s = texts[currentLang()][key];
    if (s === undefined) s = texts.zh[key];
    if (s === undefined) return key;
    if (vars) for (const [k, v] of Object.entries(vars)) s = s.split("{" + k + "}").join(String(v));
    return s;
  };
}

// The error box: a message (and its machine code as data-code), or hidden when ``message`` is empty.
export function showError(message, code) {
  const box = $("error");
  if (!message) {
    box.hidden = true;
    box.textContent = "";
    box.removeAttribute("data-code");
    return;
  }
  box.textContent = message;
  if (code) box.dataset.code = code;
  else box.removeAttribute("data-code");
  box.hidden = false;
}

// A name from an answer ({code, zh, en}) in the page's language.
export function named(n, lang) {
  return n ? n[lang] || String(n.code) : "";
}

// A credit grade: its letter and its name; ``title`` (optional) for a tooltip.
export function gradeBadge(grade, lang, title) {
  return el(
    "span",
    { class: "grade", "data-grade": grade.code, title: title },
    el("span", { class: "grade-letter grade-" + grade.code, text: grade.code }),
    el("span", { class: "grade-name", text: named(grade, lang) })
  );
}

// When a credit entry is in effect, said with the page's t().
export function windowText(e, t) {
  if (e.lifts !== null && e.lifts !== undefined) return t("liftingFrom", { start: e.effective_from });
  if (!e.effective_until) return t("untilLifted", { start: e.effective_from });
  return t("window", { start: e.effective_from, until: e.effective_until });
}

// fetch(url, init) with the page marked busy meanwhile: {response, body} (body null when it is not JSON), or null
// when the service cannot be reached.
export async function requestJson(url, init) {
  document.body.classList.add("busy");
  let response;
  try {
    response = await fetch(url, init);
  } catch (e) {
    document.body.classList.remove("busy");
    return null;
  }
  document.body.classList.remove("busy");
  let body = null;
  try {
    body = await response.json();
  } catch (e) {
    body = null;
  }
  return { response: response, body: body };
}

// The error an answer carries ({code, message}), or one made of its HTTP status when it carries none.
export function errorOf(response, body) {
  return body && body.error ? body.error : { code: "HTTP_" + response.status, message: response.statusText };
}

// "Request failed — CODE: message" in the page's language.
export function failureText(err, t) {
  return t("errorPrefix") + " — " + err.code + ": " + err.message;
}
