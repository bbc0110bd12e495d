// The calls made in this browser tab (session storage), newest first; a click loads one again.

import { clear, h } from "./dom.js";

const KEY = "openclb.history";
const LIMIT = 50;
const listeners = new Set();

export function entries() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) || "[]");
  } catch {
    return [];
  }
}

function save(list) {
  sessionStorage.setItem(KEY, JSON.stringify(list.slice(0, LIMIT)));
  for (const listener of listeners) listener();
}

export function add(call) {
  const entry = { id: `${Date.now()}-${Math.random().toString(16).slice(2)}`, at: new Date().toISOString(), ...call };
  save([entry, ...entries()]);
  return entry.id;
}

export function update(id, fields) {
  save(entries().map((entry) => (entry.id === id ? { ...entry, ...fields } : entry)));
}

/** The tasks started by this tab's calls, newest first. */
export function tasks() {
  return entries().filter((entry) => entry.taskId);
}

export function onChange(listener) {
  listeners.add(listener);
}

export function render(root, onPick) {
  const draw = () => clear(root, ...entries().map((entry) => h("li", {},
    h("button", { type: "button", className: "link", onclick: () => onPick(entry) }, entry.action),
    ` ${entry.at.slice(11, 19)} `,
    h("span", { className: entry.code === "Success" ? "ok" : "error" }, entry.code || "…"),
    entry.task ? ` · task ${entry.task}` : "")));
  listeners.add(draw);
  draw();
}
