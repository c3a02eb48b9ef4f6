// The playground: a request form built from the catalog's capabilities (so only valid choices
// can be made), generations and edits, and the results as a grid.
import { ApiError, call, clearErrors, el, session, showError, usd } from "./api.js";
import { MaskPainter } from "./mask.js";
import { remember } from "./gallery.js";

let models = [];
let me = null;
let painter = null;
let loadedFor = null;
const $ = (id) => document.getElementById(id);

function options(select, values, { blank = null, selected = null } = {}) {
  select.replaceChildren();
  if (blank !== null) select.append(el("option", { value: "", text: blank }));
  for (const value of values) select.append(el("option", { value, text: value, selected: value === selected }));
}

function mode() { return $("gen-form").op.value; }
function current() { return models.find((m) => m.id === $("f-model").value); }

// What the form offers for a model, from the `imagehub` extension of /api/models: a field the
// model does not take has no choices (null), so it is hidden.
function capsOf(model) {
  const hub = model.imagehub;
  const takes = (field) => hub.fields.includes(field);
  return {
    sizes: hub.sizes, default_size: hub.default_size, max_n: hub.max_n, max_prompt_chars: hub.max_prompt_chars,
    qualities: takes("quality") && hub.qualities.length ? hub.qualities : null, default_quality: hub.default_quality,
    styles: takes("style") && hub.styles.length ? hub.styles : null, default_style: hub.default_style,
    backgrounds: takes("background") && hub.backgrounds.length ? hub.backgrounds : null,
    output_formats: takes("output_format") ? hub.output_formats : null,
    seed: hub.seed, edits: hub.edits.edits_endpoint, mask: hub.edits.mask,
  };
}

// The model the user picked, kept across generate and edit while it can do both; until then
// each form starts on the model the API itself uses when a request names none (`default_for`).
let chosen = null;

// Deprecated names (announced or past their shutdown date) go in a group of their own, each
// saying which model serves it today, so nobody picks one by accident.
function modelOption(model, selected) {
  const hub = model.imagehub;
  const servedBy = hub.served_by && hub.served_by !== model.id ? ` → served by ${hub.served_by}` : "";
  const until = model.shutdown_date ? ` (shutdown ${model.shutdown_date})` : "";
  const text = hub.deprecated ? `${model.id}${until}${servedBy}` : model.id;
  return el("option", { value: model.id, text, selected: model.id === selected });
}

function fillModels() {
  const editing = mode() === "edit";
  // An edit-only service (generations: false) is offered on the edit form only.
  const usable = models.filter((m) => (editing ? capsOf(m).edits : m.imagehub.generations !== false));
  const fallback = usable.find((m) => (m.imagehub.default_for || []).includes(editing ? "edit" : "generate"));
  const selected = usable.some((m) => m.id === chosen) ? chosen : fallback?.id ?? null;
  const live = usable.filter((m) => !m.imagehub.deprecated);
  const deprecated = usable.filter((m) => m.imagehub.deprecated);
  const select = $("f-model");
  select.replaceChildren();
  for (const [label, group] of [["Current models", live], ["Deprecated names", deprecated]]) {
    if (!group.length) continue;
    const holder = el("optgroup", { label });
    for (const model of group) holder.append(modelOption(model, selected));
    select.append(holder);
  }
  fillFields();
}

// Offer exactly what the selected model takes; hide what it does not.
function fillFields() {
  const model = current();
  if (!model) return;
  const caps = capsOf(model);
  options($("f-size"), caps.sizes, { selected: caps.default_size });
  options($("f-n"), Array.from({ length: caps.max_n }, (_, i) => String(i + 1)), { selected: "1" });
  for (const [cap, id, fallback] of [["qualities", "f-quality", caps.default_quality], ["styles", "f-style", caps.default_style],
    ["backgrounds", "f-background", null], ["output_formats", "f-output-format", null]]) {
    const values = caps[cap];
    document.querySelector(`[data-cap=${cap}]`).hidden = !values;
    if (values) options($(id), values, { blank: `default${fallback ? ` (${fallback})` : ""}` });
  }
  document.querySelector("[data-cap=seed]").hidden = !caps.seed;
  $("f-response-format").value = "url";
  $("f-prompt").maxLength = caps.max_prompt_chars;
  const editing = mode() === "edit";
  $("mask-area").hidden = !editing || !caps.mask || !painter?.image;
  $("gen-submit").textContent = editing ? "Edit" : "Generate";
}

function fields() {
  const form = $("gen-form");
  const body = { prompt: form.prompt.value, model: form.model.value, n: Number(form.n.value), size: form.size.value,
    response_format: form.response_format.value };
  for (const name of ["quality", "style", "background", "output_format"]) {
    const input = form[name];
    if (!input.closest(".field").hidden && input.value) body[name] = input.value;
  }
  if (!form.seed.closest(".field").hidden && form.seed.value !== "") body.seed = Number(form.seed.value);
  return body;
}

// Tiles exist before the answer, so a streaming response fills them with partial images as they
// arrive (`partial`), then with the finished image (`completed`).
export const preview = {
  tiles: [],
  begin(count) {
    this.tiles = Array.from({ length: count }, () => el("figure", { class: "tile pending" }, el("div", { class: "spinner" })));
    $("results").replaceChildren(el("div", { class: "image-grid" }, ...this.tiles));
  },
  partial(index, b64, format = "png") {
    const tile = this.tiles[index];
    if (!tile) return;
    tile.replaceChildren(el("img", { src: `data:image/${format};base64,${b64}`, alt: "partial preview", class: "partial" }));
    const results = $("results");
    results.dataset.partials = String(Number(results.dataset.partials || 0) + 1);
  },
  completed(index, item, request) {
    const tile = this.tiles[index];
    if (!tile) return;
    const format = request.output_format || "png";
    const src = item.url || `data:image/${format};base64,${item.b64_json}`;
    const name = `${request.model}-${Date.now()}-${index + 1}.${format}`;
    tile.className = "tile";
    tile.replaceChildren(
      el("img", { src, alt: request.prompt, loading: "lazy" }),
      el("figcaption", {},
        item.revised_prompt ? el("p", { class: "revised", text: `Revised prompt: ${item.revised_prompt}` }) : null,
        el("a", { class: "button", href: src, download: name, text: "Download" })),
    );
  },
};

// One image generated with `stream: true`: OpenAI's server-sent events, read as they arrive.
// Partial images go to the tile at once; the answer is the completed events, as an ImagesResponse.
async function streamGeneration(body) {
  const response = await fetch("/api/images/generations", {
    method: "POST",
    headers: { Authorization: `Bearer ${session.key}`, "Content-Type": "application/json" },
    body: JSON.stringify({ ...body, stream: true, partial_images: 2 }),
    credentials: "omit",
    cache: "no-store",
  });
  if (!response.ok) {
    let payload = null;
    try { payload = await response.json(); } catch { payload = null; }
    throw new ApiError(response.status, (payload && payload.error) || { message: `HTTP ${response.status}` });
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  const items = [];
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split("\n").filter((line) => line.startsWith("data:")).map((line) => line.slice(5).trim()).join("\n");
      if (!data) continue;
      const event = JSON.parse(data);
      if (event.type === "error") throw new ApiError(500, event.error || {});
      if (event.type.endsWith(".partial_image")) preview.partial(items.length, event.b64_json, event.output_format);
      if (event.type.endsWith(".completed")) {
        const { url, b64_json, revised_prompt } = event;
        items.push(Object.fromEntries(Object.entries({ url, b64_json, revised_prompt }).filter(([, v]) => v !== undefined)));
      }
    }
  }
  return { data: { data: items }, headers: response.headers };
}

async function submit(event) {
  event.preventDefault();
  const form = $("gen-form");
  clearErrors(form, $("gen-error"));
  const body = fields();
  const editing = mode() === "edit";
  $("gen-submit").disabled = true;
  $("gen-status").textContent = editing ? "Editing…" : "Generating…";
  preview.begin(body.n);
  delete $("results").dataset.partials;
  const started = performance.now();
  try {
    let answer;
    if (editing) {
      const file = form.image.files[0];
      if (!file) throw { param: "image", message: "Choose an image to edit." };
      const data = new FormData();
      for (const [name, value] of Object.entries(body)) data.append(name, String(value));
      data.append("image", file, file.name);
      const mask = capsOf(current()).mask && painter ? await painter.toBlob() : null;
      if (mask) data.append("mask", mask, "mask.png");
      answer = await call("POST", "/api/images/edits", { form: data });
    } else if ((body.n || 1) === 1) {
      answer = await streamGeneration(body);  // previews as they arrive
    } else {
      answer = await call("POST", "/api/images/generations", { json: body });
    }
    const { data, headers } = answer;
    data.data.forEach((item, index) => preview.completed(index, item, body));
    const cost = headers.get("x-imagehub-cost-micros");
    const sandbox = headers.get("x-imagehub-sandbox") === "true";
    $("gen-status").textContent = `${data.data.length} image(s) in ${((performance.now() - started) / 1000).toFixed(1)}s · cost ${cost === null ? "-" : usd(Number(cost))}${sandbox ? " (sandbox)" : ""} · request ${headers.get("x-request-id") || ""}`;
    $("gen-status").dataset.cost = cost ?? "";
    if (me) remember(me.id, data.data, body, editing ? "edit" : "generate");
  } catch (error) {
    $("results").replaceChildren();
    $("gen-status").textContent = "";
    showError(form, $("gen-error"), error);
  } finally {
    $("gen-submit").disabled = false;
  }
}

async function loadImage() {
  const file = $("f-image").files[0];
  if (!file) return;
  const bitmap = await createImageBitmap(file);
  painter.load(bitmap);
  fillFields();
}

export function setup() {
  const form = $("gen-form");
  painter = new MaskPainter($("mask-canvas"), $("mask-brush"));
  form.addEventListener("submit", submit);
  $("f-model").addEventListener("change", () => {
    chosen = $("f-model").value;
    fillFields();
  });
  form.querySelectorAll("input[name=op]").forEach((radio) => radio.addEventListener("change", () => {
    $("edit-fields").hidden = mode() !== "edit";
    fillModels();
  }));
  $("f-image").addEventListener("change", loadImage);
  $("mask-clear").addEventListener("click", () => painter.clear());
}

export async function enter(key) {
  me = key;
  if (key.mode === "admin") {
    $("gen-error").textContent = "Admin keys manage the hub and cannot generate: sign in with a sandbox or live key.";
  }
  if (models.length && loadedFor === key.id) return;
  loadedFor = key.id;
  try {
    models = (await call("GET", "/api/models")).data.data;
    fillModels();
  } catch (error) {
    showError($("gen-form"), $("gen-error"), error);
  }
}
