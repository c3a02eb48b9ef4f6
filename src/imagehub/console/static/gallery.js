// The gallery: this key's recent images, with the prompt and parameters of each, for as long as
// their signed URLs live. Kept in this browser's localStorage under the key's id (never the
// secret); entries whose URL has expired are dropped. b64_json results have no URL to keep.
import { el } from "./api.js";

const LIMIT = 200;
const storageKey = (keyId) => `imagehub.gallery.${keyId}`;

function expiresAt(url) {
  try { return Number(new URL(url, location.href).searchParams.get("expires")) || 0; } catch { return 0; }
}

function load(keyId) {
  let entries = [];
  try { entries = JSON.parse(localStorage.getItem(storageKey(keyId)) || "[]"); } catch { entries = []; }
  const now = Date.now() / 1000;
  return entries.filter((entry) => entry.expires > now);
}

export function remember(keyId, items, request, operation) {
  const created = Math.floor(Date.now() / 1000);
  const { prompt, ...params } = request;
  const fresh = items.filter((item) => item.url).map((item) => ({
    url: item.url, expires: expiresAt(item.url), created, prompt, params, operation,
    revised_prompt: item.revised_prompt || null,
  }));
  if (!fresh.length) return;
  const entries = [...fresh, ...load(keyId)].slice(0, LIMIT);
  localStorage.setItem(storageKey(keyId), JSON.stringify(entries));
}

export function setup() {}

export function enter(key) {
  const grid = document.getElementById("gallery-grid");
  const entries = load(key.id);
  if (!entries.length) {
    grid.replaceChildren(el("p", { class: "hint", text: "No images yet: generate some in the playground (response format url)." }));
    return;
  }
  grid.replaceChildren(...entries.map((entry) => {
    const params = Object.entries(entry.params).map(([name, value]) => `${name}=${value}`).join(" · ");
    const minutes = Math.max(0, Math.round((entry.expires - Date.now() / 1000) / 60));
    return el("figure", { class: "tile" },
      el("img", { src: entry.url, alt: entry.prompt, loading: "lazy" }),
      el("figcaption", {},
        el("p", { class: "prompt", text: entry.prompt }),
        entry.revised_prompt ? el("p", { class: "revised", text: `Revised: ${entry.revised_prompt}` }) : null,
        el("p", { class: "params", text: `${entry.operation} · ${params}` }),
        el("p", { class: "hint", text: `${new Date(entry.created * 1000).toLocaleString()} · URL valid ${minutes} more min` }),
        el("a", { class: "button", href: entry.url, download: "", text: "Download" })));
  }));
}
