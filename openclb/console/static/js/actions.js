// The action list: every action of every served service, grouped by resource, filtered by the
// quick search over names, titles and one-line descriptions.

import { h, clear } from "./dom.js";

/** Every action with its service, and the data-testid it is found by. */
export function indexActions(catalog) {
  const all = [];
  const taken = new Set();
  const ordered = [...catalog.services].sort((a, b) => (a.service === "clb" ? -1 : b.service === "clb" ? 1 : 0));
  for (const service of ordered) {
    for (const action of service.actions) {
      const testId = taken.has(action.name) ? `action-${service.service}.${action.name}` : `action-${action.name}`;
      taken.add(action.name);
      all.push({ ...action, service, testId, key: `${service.service}/${action.name}` });
    }
  }
  return all;
}

function matches(action, words) {
  const text = `${action.name} ${action.title} ${action.description} ${action.service.service}`.toLowerCase();
  return words.every((word) => text.includes(word));
}

function groupOf(action) {
  return action.service.service === "clb" ? action.group : `${action.service.service}: ${action.group}`;
}

export function renderActionList(root, actions, query, selectedKey, onSelect) {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const exact = actions.filter((a) => words.length === 1 && a.name.toLowerCase() === words[0]);
  const shown = actions.filter((a) => matches(a, words));
  const groups = new Map();
  for (const action of shown) {
    const group = groupOf(action);
    if (!groups.has(group)) groups.set(group, []);
    groups.get(group).push(action);
  }
  const sections = [...groups.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([group, items]) =>
    h("div", { className: "action-group" },
      h("div", { className: "group-name" }, group),
      ...items.map((action) => h("button", {
        type: "button",
        className: action.key === selectedKey ? "action selected" : "action",
        "data-testid": action.testId,
        title: action.description || action.name,
        onclick: () => onSelect(action),
      }, h("span", { className: "action-name" }, action.name),
      action.title ? h("span", { className: "action-title" }, action.title) : null))));
  clear(root, shown.length ? sections : h("p", { className: "muted" }, "No action matches."));
  return exact[0] || null;
}
