// Key management for admin keys, through the admin API: list with spend, create, change
// limits, top up, revoke. Errors appear next to the field the API names.
import { call, clearErrors, el, showError, usd, usdToMicros, when } from "./api.js";

const $ = (id) => document.getElementById(id);
let keys = [];
let selected = null;

function limitsText(key) {
  return [key.budget_micros !== null && `budget ${usd(key.budget_micros)}/${key.budget_period}`,
    key.rpm_limit && `${key.rpm_limit} rpm`, key.concurrency_limit && `${key.concurrency_limit} concurrent`,
    key.max_n && `n≤${key.max_n}`, key.allowed_models && `models ${key.allowed_models.join(",")}`]
    .filter(Boolean).join("; ") || "-";
}

async function refresh() {
  $("admin-error").textContent = "";
  try {
    const [list, spend] = await Promise.all([call("GET", "/api/admin/keys"), call("GET", "/api/usage?group_by=key")]);
    const spent = Object.fromEntries(spend.data.data.map((row) => [row.key_id, row.cost_micros]));
    keys = list.data.data;
    $("keys-table").tBodies[0].replaceChildren(...keys.map((key) => el("tr", { "data-key-id": key.id },
      el("td", { text: key.name }), el("td", { text: key.mode }), el("td", { text: `${key.prefix}…` }),
      el("td", { text: key.revoked_at ? `revoked ${when(key.revoked_at)}` : "active" }),
      el("td", { text: when(key.created_at) }), el("td", { text: when(key.last_used_at) }),
      el("td", { text: usd(spent[key.id] || 0) }), el("td", { class: "balance", text: usd(key.balance_micros) }),
      el("td", { text: limitsText(key) }),
      el("td", {}, key.revoked_at ? null : el("button", { type: "button", text: "Manage", onclick: () => open(key) })))));
  } catch (error) {
    $("admin-error").textContent = error.message;
  }
}

function numberOrNull(text) {
  const trimmed = String(text).trim();
  return trimmed === "" ? null : Number(trimmed);
}

function open(key) {
  selected = key;
  const form = $("key-dialog-form");
  clearErrors(form, $("key-dialog-error"));
  $("key-dialog-title").textContent = `${key.name} (${key.id}) · balance ${usd(key.balance_micros)}`;
  form.topup.value = "";
  form.rpm_limit.value = key.rpm_limit ?? "";
  form.concurrency_limit.value = key.concurrency_limit ?? "";
  form.max_n.value = key.max_n ?? "";
  form.budget.value = key.budget_micros === null ? "" : key.budget_micros / 1e6;
  form.budget_period.value = key.budget_period ?? "";
  form.allowed_models.value = (key.allowed_models || []).join(", ");
  $("key-dialog").showModal();
}

async function act(request) {
  const form = $("key-dialog-form");
  clearErrors(form, $("key-dialog-error"));
  try {
    const { data } = await request();
    selected = data;
    $("key-dialog-title").textContent = `${data.name} (${data.id}) · balance ${usd(data.balance_micros)}`;
    await refresh();
    return data;
  } catch (error) {
    showError(form, $("key-dialog-error"), error);
    return null;
  }
}

function topUp() {
  const amount = usdToMicros($("kd-topup").value);
  return act(() => call("POST", `/api/admin/keys/${selected.id}/credits`, { json: { amount_micros: amount } }));
}

function saveLimits() {
  const form = $("key-dialog-form");
  const models = form.allowed_models.value.split(",").map((m) => m.trim()).filter(Boolean);
  const budget = usdToMicros(form.budget.value);
  const body = { rpm_limit: numberOrNull(form.rpm_limit.value), concurrency_limit: numberOrNull(form.concurrency_limit.value),
    max_n: numberOrNull(form.max_n.value), budget_micros: budget,
    budget_period: budget === null ? null : (form.budget_period.value || "month"), allowed_models: models.length ? models : null };
  return act(() => call("PATCH", `/api/admin/keys/${selected.id}`, { json: body }));
}

async function revoke() {
  if (!confirm(`Revoke ${selected.name}? Apps using it stop working at once.`)) return;
  if (await act(() => call("DELETE", `/api/admin/keys/${selected.id}`))) $("key-dialog").close();
}

async function create(event) {
  event.preventDefault();
  const form = $("create-key-form");
  clearErrors(form, $("create-key-error"));
  const body = { name: form.name.value, mode: form.mode.value };
  const balance = usdToMicros(form.balance.value);
  if (balance !== null) body.balance_micros = balance;
  if (form.rpm.value.trim()) body.rpm_limit = Number(form.rpm.value);
  try {
    const { data } = await call("POST", "/api/admin/keys", { json: body });
    $("new-secret").hidden = false;
    $("new-secret").replaceChildren(el("p", { text: `Created ${data.name}. Its secret is shown only this once:` }),
      el("code", { id: "new-secret-value", text: data.secret }));
    form.reset();
    await refresh();
  } catch (error) {
    showError(form, $("create-key-error"), error);
  }
}

export function setup() {
  $("create-key-form").addEventListener("submit", create);
  $("kd-topup-go").addEventListener("click", topUp);
  $("kd-save").addEventListener("click", saveLimits);
  $("kd-revoke").addEventListener("click", revoke);
  $("kd-close").addEventListener("click", () => $("key-dialog").close());
}

export function enter() {
  refresh();
}
