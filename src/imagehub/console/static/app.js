// The console's shell: sign-in, the key's identity, and switching between views.
import { call, session, showError, clearErrors } from "./api.js";
import * as playground from "./playground.js";
import * as gallery from "./gallery.js";
import * as dashboard from "./dashboard.js";
import * as admin from "./admin.js";
import * as jobs from "./jobs.js";

const views = { playground, gallery, jobs, usage: dashboard, admin };
const state = { me: null };

function show(name) {
  document.querySelectorAll(".view").forEach((v) => { v.hidden = v.id !== `view-${name}`; });
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.view === name));
  views[name]?.enter(state.me);
}

function route() {
  if (!state.me) { show("signin"); return; }
  let name = location.hash.replace("#", "") || "playground";
  if (!views[name] || (name === "admin" && state.me.mode !== "admin")) name = "playground";
  show(name);
}

async function signIn(key) {
  const { data } = await call("GET", "/api/key", { key });
  session.key = key;
  state.me = data;
  document.getElementById("nav").hidden = false;
  document.getElementById("whoami").hidden = false;
  document.getElementById("nav-admin").hidden = data.mode !== "admin";
  document.getElementById("key-label").textContent = `${data.name} · ${data.mode} · ${data.prefix}…`;
  document.body.dataset.mode = data.mode;
}

function signOut() {
  session.key = null;
  state.me = null;
  document.getElementById("nav").hidden = true;
  document.getElementById("whoami").hidden = true;
  location.hash = "";
  route();
}

async function start() {
  const form = document.getElementById("signin-form");
  const general = form.querySelector("[data-error-for=key]");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form, general);
    const key = form.key.value.trim();
    try {
      await signIn(key);
      form.reset();
      if (!location.hash) location.hash = state.me.mode === "admin" ? "#admin" : "#playground";
      route();
    } catch (error) {
      showError(form, general, { ...error, param: "key", message: error.message });
    }
  });
  document.getElementById("sign-out").addEventListener("click", signOut);
  window.addEventListener("hashchange", route);
  Object.values(views).forEach((view) => view.setup?.());
  if (session.key) {
    try { await signIn(session.key); } catch { session.key = null; }
  }
  route();
}

start();
