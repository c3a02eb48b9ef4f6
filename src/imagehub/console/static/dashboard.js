// The usage dashboard: spend and images per day and per model, errors by status (plotly.js,
// served by the hub), and the key's balance, budget and limits from GET /api/key.
import { call, el, usd } from "./api.js";
import { loadPlotly } from "./charts.js";

const $ = (id) => document.getElementById(id);

function card(label, value) {
  return el("div", { class: "card" }, el("span", { class: "label", text: label }), el("strong", { text: value }));
}

function keyCards(key) {
  const budget = key.budget_usage
    ? `${usd(key.budget_usage.spent_micros)} of ${usd(key.budget_usage.budget_micros)} (${key.budget_period} ${key.budget_usage.period})`
    : "none";
  const limits = [key.rpm_limit && `${key.rpm_limit} req/min`, key.concurrency_limit && `${key.concurrency_limit} concurrent`,
    key.max_n && `n ≤ ${key.max_n}`, key.allowed_models && `models: ${key.allowed_models.join(", ")}`].filter(Boolean);
  return [card("Key", `${key.name} (${key.mode})`), card("Balance", key.balance_micros === null ? "no prepaid balance" : usd(key.balance_micros)),
    card("Budget", budget), card("Limits", limits.join(" · ") || "none")];
}

export const UNKNOWN_MODEL = "unknown model";

// Refused requests are recorded with the model name as sent, misspellings included: one bar for
// all names the catalog does not know, not a bar per typo.
function byKnownModel(rows, known) {
  const merged = new Map();
  for (const row of rows) {
    const model = known.has(row.model) ? row.model : UNKNOWN_MODEL;
    const into = merged.get(model) || { model, images_delivered: 0, cost_micros: 0 };
    into.images_delivered += row.images_delivered;
    into.cost_micros += row.cost_micros;
    merged.set(model, into);
  }
  return [...merged.values()];
}

async function usage(groupBy) {
  return (await call("GET", `/api/usage?group_by=${groupBy}`)).data.data;
}

function bar(Plotly, target, title, x, y, yTitle, text) {
  const layout = { title: { text: title }, margin: { t: 40, r: 10, b: 60, l: 60 }, height: 280,
    yaxis: { title: { text: yTitle }, rangemode: "tozero" }, xaxis: { type: "category" } };
  return Plotly.newPlot(target, [{ type: "bar", x, y, text, marker: { color: "#4f6bed" } }], layout,
    { displayModeBar: false, responsive: true, staticPlot: false });
}

export function setup() {}

export async function enter(key) {
  $("usage-error").textContent = "";
  try {
    const [me, byDay, perName, byStatus, catalog] = await Promise.all([
      call("GET", "/api/key"), usage("day"), usage("model"), usage("status"), call("GET", "/api/models")]);
    const byModel = byKnownModel(perName, new Set(catalog.data.data.map((m) => m.id)));
    $("key-card").replaceChildren(...keyCards(me.data));
    const Plotly = await loadPlotly();
    const days = byDay.map((row) => row.day);
    await bar(Plotly, "chart-spend-day", "Spend per day (USD)", days, byDay.map((r) => r.cost_micros / 1e6), "USD");
    await bar(Plotly, "chart-images-day", "Images per day", days, byDay.map((r) => r.images_delivered), "images");
    await bar(Plotly, "chart-model", "Images and spend per model", byModel.map((r) => r.model),
      byModel.map((r) => r.images_delivered), "images", byModel.map((r) => usd(r.cost_micros)));
    const errors = byStatus.filter((row) => row.status !== null && row.status >= 400);
    await bar(Plotly, "chart-status", "Errors by status", errors.map((r) => `HTTP ${r.status}`),
      errors.map((r) => r.requests), "requests");
    document.getElementById("view-usage").dataset.ready = "true";
  } catch (error) {
    $("usage-error").textContent = error.message || String(error);
  }
}
