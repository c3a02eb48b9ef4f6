// The hub's public API, called with the signed-in key. The key lives in this tab's
// sessionStorage only: never in a URL, a cookie or localStorage.
const KEY = "imagehub.apiKey";

export class ApiError extends Error {
  constructor(status, error) {
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.param = error.param || null;
    this.code = error.code || null;
    this.type = error.type || null;
  }
}

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  set key(value) { value ? sessionStorage.setItem(KEY, value) : sessionStorage.removeItem(KEY); },
};

export async function call(method, path, { json, form, key, headers: extra } = {}) {
  const headers = { Authorization: `Bearer ${key || session.key}`, ...(extra || {}) };
  let body;
  if (json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  if (form !== undefined) body = form;  // the browser writes the multipart boundary
  const response = await fetch(path, { method, headers, body, credentials: "omit", cache: "no-store" });
  const text = await response.text();
  let payload = null;
  try { payload = text ? JSON.parse(text) : null; } catch { payload = null; }
  if (!response.ok) {
    throw new ApiError(response.status, (payload && payload.error) || { message: `HTTP ${response.status}: ${text.slice(0, 200)}` });
  }
  return { data: payload, headers: response.headers };
}

// Show an API error next to the field its `param` names (e.g. "size", "image[0]", "mask"),
// or in the form's general error line when no field matches.
export function showError(form, generalEl, error) {
  clearErrors(form, generalEl);
  const param = error.param ? String(error.param).split(/[.[]/)[0] : null;
  const slot = param && form.querySelector(`[data-error-for="${param}"]`);
  const text = error.message || String(error);
  if (slot) {
    slot.textContent = text;
    const field = form.querySelector(`[data-param="${param}"]`);
    if (field) { field.setAttribute("aria-invalid", "true"); field.focus?.(); }
  } else {
    generalEl.textContent = text;
  }
}

export function clearErrors(form, generalEl) {
  form.querySelectorAll(".field-error").forEach((el) => { el.textContent = ""; });
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  if (generalEl) generalEl.textContent = "";
}

export function usd(micros) {
  if (micros === null || micros === undefined) return "-";
  return "$" + (micros / 1e6).toFixed(6).replace(/0+$/, "").replace(/\.$/, "");
}

export function usdToMicros(text) {
  const trimmed = String(text).trim().replace(/^\$/, "");
  if (!trimmed) return null;
  if (!/^\d+(\.\d{0,6})?$/.test(trimmed)) return NaN;
  const [whole, frac = ""] = trimmed.split(".");
  return Number(whole) * 1e6 + Number(frac.padEnd(6, "0"));
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children) if (child !== null && child !== undefined) node.append(child);
  return node;
}

export function when(seconds) {
  return seconds ? new Date(seconds * 1000).toISOString().slice(0, 16).replace("T", " ") : "never";
}
