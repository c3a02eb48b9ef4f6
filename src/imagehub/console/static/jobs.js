// The Jobs view: submit a prompt asynchronously (Prefer: respond-async), watch this key's jobs
// move from queued to their end, see each result, cancel what still runs; and the key's webhook
// endpoints with their delivery logs (register, send a test, remove). Public API only.
import { call, el, when, showError, clearErrors } from "./api.js";

let timer = null;

function resultImages(job) {
  const items = (job.result && job.result.data) || [];
  return items.map((item) => el("img", {
    class: "job-thumb",
    alt: job.model,
    src: item.url || `data:image/png;base64,${item.b64_json}`,
  }));
}

function jobRow(job) {
  const running = job.status === "queued" || job.status === "in_progress";
  const cancel = running
    ? el("button", { type: "button", text: "Cancel", onclick: async () => { await call("POST", `/api/images/jobs/${job.id}/cancel`); refresh(); } })
    : null;
  return el("tr", { "data-job": job.id, "data-status": job.status },
    el("td", { text: job.id }),
    el("td", { class: `status-${job.status}`, text: job.status }),
    el("td", { text: `${job.model} ${job.size || ""}` }),
    el("td", { text: when(job.created_at) }),
    el("td", {}, ...resultImages(job), job.error ? el("span", { class: "field-error", text: job.error.message }) : null),
    el("td", {}, cancel));
}

async function refresh() {
  const body = document.getElementById("jobs-rows");
  try {
    const { data } = await call("GET", "/api/images/jobs?limit=20");
    body.replaceChildren(...data.data.map(jobRow));
    if (!data.data.length) body.replaceChildren(el("tr", {}, el("td", { colspan: "6", class: "hint", text: "No jobs yet." })));
  } catch (error) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: "6", class: "field-error", text: error.message })));
  }
}

async function showDeliveries(endpoint, target) {
  const { data } = await call("GET", `/api/webhooks/endpoints/${endpoint.id}/deliveries?limit=20`);
  target.replaceChildren(...data.data.map((d) => el("li", {
    text: `${when(d.created_at)} ${d.event_type} · ${d.status} · ${d.attempts} attempt(s)` +
      (d.last_status_code ? ` · HTTP ${d.last_status_code}` : "") + (d.last_error ? ` · ${d.last_error}` : ""),
  })));
  if (!data.data.length) target.replaceChildren(el("li", { class: "hint", text: "No deliveries yet." }));
}

async function refreshHooks() {
  const list = document.getElementById("hooks-list");
  const { data } = await call("GET", "/api/webhooks/endpoints");
  list.replaceChildren(...data.data.map((endpoint) => {
    const log = el("ul", { class: "deliveries" });
    return el("li", { "data-endpoint": endpoint.id },
      el("code", { text: endpoint.url }), ` ${endpoint.events.join(", ")} `,
      el("button", { type: "button", text: "Deliveries", onclick: () => showDeliveries(endpoint, log) }),
      el("button", { type: "button", text: "Send test", onclick: async () => { await call("POST", `/api/webhooks/endpoints/${endpoint.id}/test`); showDeliveries(endpoint, log); } }),
      el("button", { type: "button", text: "Remove", onclick: async () => { await call("DELETE", `/api/webhooks/endpoints/${endpoint.id}`); refreshHooks(); } }),
      log);
  }));
}

export function setup() {
  const form = document.getElementById("job-form");
  const general = form.querySelector("[data-error-for=general]");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form, general);
    const json = { prompt: form.prompt.value, model: form.model.value || undefined, size: form.size.value || undefined };
    try {
      await call("POST", "/api/images/generations", { json, headers: { Prefer: "respond-async" } });
      refresh();
    } catch (error) { showError(form, general, error); }
  });
  const hooks = document.getElementById("hook-form");
  const hookError = hooks.querySelector("[data-error-for=url]");
  hooks.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(hooks, hookError);
    try {
      const { data } = await call("POST", "/api/webhooks/endpoints", { json: { url: hooks.url.value } });
      document.getElementById("hook-secret").textContent = `Signing secret (shown once): ${data.secret}`;
      hooks.reset();
      refreshHooks();
    } catch (error) { showError(hooks, hookError, error); }
  });
}

export function enter() {
  refresh();
  refreshHooks().catch(() => {});
  clearInterval(timer);
  timer = setInterval(() => {
    if (document.getElementById("view-jobs").hidden) { clearInterval(timer); return; }
    refresh();
  }, 2000);
}
