// The parameters form, generated from the spec's shapes: one input per scalar member, one
// comma-separated input per list of scalars, a fieldset per object, and numbered items for a
// list of objects. Each input carries data-testid="param-<Path>" (`Ports`, `HealthCheck.TimeOut`,
// `Rules.0.Domain`). The parameters object is the one source of truth; the form writes into it
// and calls `onChange` after every edit.

import { h, clear } from "./dom.js";

const SCALAR = new Set(["string", "datetime", "int64", "uint64", "float", "bool"]);
const NUMBER = new Set(["int64", "uint64", "float"]);
const TYPE_NAMES = { string: "String", datetime: "Timestamp", int64: "Integer", uint64: "Integer", float: "Float", bool: "Boolean" };

export function typeName(member) {
  const item = SCALAR.has(member.member) ? TYPE_NAMES[member.member] : member.member;
  return member.type === "list" ? `Array of ${item}` : item;
}

function typedScalar(kind, text) {
  const trimmed = text.trim();
  if (trimmed === "") return undefined;
  if (NUMBER.has(kind) && /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(trimmed)) return Number(trimmed);
  if (kind === "bool") return trimmed === "true" ? true : trimmed === "false" ? false : trimmed;
  return kind === "string" || kind === "datetime" ? text : trimmed;
}

function shown(value) {
  if (value === undefined || value === null) return "";
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

/** Remove unset members and objects left empty (list items stay, so "add item" keeps its row). */
function prune(value) {
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined || (Array.isArray(item) && item.length === 0)) delete value[key];
    else if (item && typeof item === "object" && !Array.isArray(item)) {
      prune(item);
      if (Object.keys(item).length === 0) delete value[key];
    } else if (Array.isArray(item)) item.forEach((x) => x && typeof x === "object" && !Array.isArray(x) && prune(x));
  }
}

export class ParamsForm {
  constructor(root, onChange) {
    this.root = root;
    this.onChange = onChange;
    this.shapes = {};
    this.params = {};
    this.shape = null;
  }

  show(shapes, shapeName, params) {
    this.shapes = shapes;
    this.shape = shapeName;
    this.params = params;
    this.render();
  }

  render() {
    const members = this.shapes[this.shape] || [];
    clear(this.root, members.length ? this.fields(this.shape, this.params, "") : h("p", { className: "muted" }, "This action takes no parameters."));
  }

  changed() {
    prune(this.params);
    this.onChange(this.params);
  }

  fields(shapeName, value, prefix) {
    return (this.shapes[shapeName] || []).map((member) => this.field(member, value, prefix + member.name));
  }

  label(member, path) {
    return h("label", { for: `field-${path}`, className: "param-label" },
      h("span", { className: "param-name" }, member.name),
      member.required ? h("span", { className: "required", title: "required" }, "*") : null,
      h("span", { className: "param-type" }, typeName(member)));
  }

  describe(member) {
    return member.description ? h("div", { className: "param-doc", title: member.description }, member.description) : null;
  }

  field(member, value, path) {
    if (member.type === "object") return this.objectField(member, value, path);
    if (member.type === "list" && !SCALAR.has(member.member)) return this.objectList(member, value, path);
    const input = member.type === "list" ? this.listInput(member, value, path) : this.scalarInput(member, value, path);
    return h("div", { className: "param" }, this.label(member, path), input, this.describe(member));
  }

  scalarInput(member, value, path) {
    const attrs = { id: `field-${path}`, "data-testid": `param-${path}`, "data-path": path };
    if (member.member === "bool") {
      const select = h("select", attrs, ...["", "true", "false"].map((o) => h("option", { value: o }, o || "—")));
      select.value = shown(value[member.name]);
      select.addEventListener("change", () => this.set(value, member, typedScalar("bool", select.value)));
      return select;
    }
    const listId = member.choices && member.choices.length ? `choices-${path}` : null;
    const input = h("input", {
      ...attrs, type: "text", value: shown(value[member.name]), list: listId, autocomplete: "off",
      inputmode: NUMBER.has(member.member) ? "decimal" : null,
      placeholder: member.choices && member.choices.length ? member.choices.join(" | ") : "",
    });
    input.addEventListener("input", () => this.set(value, member, typedScalar(member.member, input.value)));
    if (!listId) return input;
    return h("span", {}, input, h("datalist", { id: listId }, ...member.choices.map((c) => h("option", { value: c }))));
  }

  listInput(member, value, path) {
    const current = value[member.name];
    const input = h("input", {
      id: `field-${path}`, "data-testid": `param-${path}`, "data-path": path, type: "text", autocomplete: "off",
      value: Array.isArray(current) ? current.map(shown).join(", ") : shown(current),
      placeholder: "comma-separated values",
    });
    input.addEventListener("input", () => {
      const items = input.value.split(",").map((part) => typedScalar(member.member, part)).filter((x) => x !== undefined);
      this.set(value, member, items.length ? items : undefined);
    });
    return input;
  }

  set(container, member, typed) {
    if (typed === undefined) delete container[member.name];
    else container[member.name] = typed;
    this.changed();
  }

  objectField(member, value, path) {
    const inner = value[member.name] && typeof value[member.name] === "object" ? value[member.name] : {};
    const set = h("fieldset", { className: "object", "data-path": path },
      h("legend", {}, this.label(member, path)), this.describe(member));
    const body = h("div", { className: "object-body" }, ...this.fields(member.member, this.attached(value, member.name, inner), path + "."));
    set.append(body);
    return set;
  }

  /** An object member edited in the form is attached to its parent on first write, pruned when empty. */
  attached(parent, name, inner) {
    return new Proxy(inner, {
      set: (target, key, item) => {
        target[key] = item;
        if (parent[name] !== target) parent[name] = target;
        return true;
      },
    });
  }

  objectList(member, value, path) {
    const items = Array.isArray(value[member.name]) ? value[member.name] : [];
    const set = h("fieldset", { className: "object-list", "data-path": path },
      h("legend", {}, this.label(member, path)), this.describe(member));
    items.forEach((item, index) => {
      const remove = h("button", { type: "button", className: "small", "data-testid": `remove-${path}.${index}`,
        onclick: () => { items.splice(index, 1); if (!items.length) delete value[member.name]; this.changed(); this.render(); } }, "remove");
      set.append(h("div", { className: "list-item" }, h("div", { className: "item-head" }, `${member.name}.${index}`, remove),
        ...this.fields(member.member, item, `${path}.${index}.`)));
    });
    set.append(h("button", { type: "button", className: "small", "data-testid": `add-${path}`,
      onclick: () => { items.push({}); value[member.name] = items; this.changed(); this.render(); } }, `add ${member.name} item`));
    return set;
  }
}
