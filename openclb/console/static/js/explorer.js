// The API Explorer: the chosen action's form and JSON view kept in sync both ways, signing shown
// step by step, Send (a write's task followed until it settles), SDK code, examples, history.

import { byId, clear, h, pretty } from "./dom.js";
import { renderActionList, indexActions } from "./actions.js";
import { ParamsForm } from "./form.js";
import { LANGUAGES } from "./codegen.js";
import * as client from "./client.js";
import * as history from "./history.js";

const CODE_LANGUAGES = ["python", "node", "go", "java", "tccli", "curl"];
const CODE_NAMES = { python: "Python", node: "Node.js", go: "Go", java: "Java", tccli: "tccli", curl: "curl" };

export class Explorer {
  constructor(catalog) {
    this.catalog = catalog;
    this.actions = indexActions(catalog);
    this.action = null;
    this.params = {};
    this.codeLanguage = "python";
    this.previewRun = 0;
    this.form = new ParamsForm(byId("params-form"), () => this.paramsChanged("form"));
    this.search = byId("action-search");
    this.json = byId("params-json");
    this.search.addEventListener("input", () => this.renderList());
    this.search.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && this.firstMatch) this.select(this.firstMatch);
    });
    this.json.addEventListener("input", () => this.jsonEdited());
    byId("send").addEventListener("click", () => this.send());
    byId("sign-method").addEventListener("change", () => this.preview());
    byId("timestamp").addEventListener("input", () => this.preview());
    this.renderCodeTabs();
    this.renderList();
    history.render(byId("history"), (entry) => this.restore(entry));
    byId("docs-note").textContent = catalog.descriptions
      ? "Descriptions and examples: read from the installed tccli."
      : "Descriptions and official examples are shown when tccli (pip install tccli-intl-en) is installed beside openclb; the forms work without them.";
  }

  renderList() {
    const selected = this.action ? this.action.key : null;
    this.firstMatch = renderActionList(byId("action-list"), this.actions, this.search.value, selected, (a) => this.select(a));
  }

  find(service, name) {
    return this.actions.find((a) => a.service.service === service && a.name === name) || null;
  }

  select(action, params = {}) {
    this.action = action;
    this.params = params;
    byId("action-name").textContent = `${action.name}${action.service.service === "clb" ? "" : ` (${action.service.service})`}`;
    byId("action-description").textContent = action.description || action.title || `${action.service.service} ${action.service.version}`;
    this.renderExamples();
    this.form.show(action.service.shapes, action.input, this.params);
    this.syncJson();
    clear(byId("response"));
    this.setTask("", "");
    this.renderList();
    this.preview();
  }

  renderExamples() {
    const examples = this.action.examples || [];
    clear(byId("examples"), examples.length ? h("span", { className: "muted small" }, "Examples: ") : null,
      ...examples.map((example, index) => h("button", {
        type: "button", className: "example small", "data-testid": `example-${index + 1}`, title: example.title,
        onclick: () => this.loadExample(example),
      }, `${index + 1}. ${example.title}`)));
  }

  loadExample(example) {
    this.params = JSON.parse(JSON.stringify(example.params));
    this.form.show(this.action.service.shapes, this.action.input, this.params);
    this.syncJson();
    this.preview();
  }

  paramsChanged() {
    this.params = this.form.params;
    this.syncJson();
    this.preview();
  }

  syncJson() {
    this.json.value = pretty(this.params);
    byId("params-json-error").textContent = "";
  }

  jsonEdited() {
    let parsed;
    try {
      parsed = JSON.parse(this.json.value || "{}");
    } catch (error) {
      byId("params-json-error").textContent = `Not valid JSON: ${error.message}`;
      return;
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
      byId("params-json-error").textContent = "The parameters must be a JSON object.";
      return;
    }
    byId("params-json-error").textContent = "";
    this.params = parsed;
    if (this.action) this.form.show(this.action.service.shapes, this.action.input, this.params);
    this.preview();
  }

  timestamp() {
    const fixed = byId("timestamp").value.trim();
    return /^\d+$/.test(fixed) ? Number(fixed) : client.now();
  }

  call(method) {
    const { service, version } = this.action.service;
    return { service, version, action: this.action.name, params: this.params, timestamp: this.timestamp(), method };
  }

  /** Recompute the signatures and the code for the call on screen (the latest run wins). */
  async preview() {
    if (!this.action) return;
    const run = ++this.previewRun;
    let tc3 = null;
    let v1 = null;
    if (client.hasKey()) {
      tc3 = await client.sign(this.call("TC3-HMAC-SHA256"));
      v1 = await client.sign(this.call("HmacSHA256"));
    }
    if (run !== this.previewRun) return;
    this.renderSigning(tc3, v1);
    this.renderCode(tc3);
  }

  renderSigning(tc3, v1) {
    const step = (title, testId, text) => h("div", { className: "step" }, h("h3", {}, title),
      h("pre", { className: "code", "data-testid": testId }, text));
    if (!tc3) {
      clear(byId("signing"), h("p", { className: "muted" }, "Enter a SecretId and SecretKey to see the signature."),
        step("1. Canonical request", "signature-canonical-request", ""), step("2. String to sign", "signature-string-to-sign", ""),
        step("3. Signature", "signature-signature", ""), step("4. Authorization", "signature-authorization", ""));
      return;
    }
    clear(byId("signing"),
      h("p", { className: "muted small" }, `TC3-HMAC-SHA256 for X-TC-Timestamp ${tc3.headers["X-TC-Timestamp"]}; the body is signed as sent:`),
      step("Body", "signature-body", tc3.body),
      step("1. Canonical request", "signature-canonical-request", tc3.canonicalRequest),
      step("2. String to sign", "signature-string-to-sign", tc3.stringToSign),
      step("3. Signature = HMAC-SHA256(SecretSigning, StringToSign), SecretSigning derived from TC3+SecretKey → date → service → tc3_request",
        "signature-signature", tc3.signature),
      step("4. Authorization header", "signature-authorization", tc3.authorization),
      h("h3", {}, "v1 HmacSHA256 (the same call as a signed form)"),
      step("String to sign", "signature-v1-string-to-sign", v1.stringToSign),
      step("Signature = Base64(HMAC-SHA256(SecretKey, StringToSign))", "signature-v1-signature", v1.signature));
  }

  renderCodeTabs() {
    clear(byId("code-tabs"), ...CODE_LANGUAGES.map((language) => h("button", {
      type: "button", className: language === this.codeLanguage ? "tab active" : "tab", "data-testid": `code-tab-${language}`,
      onclick: () => { this.codeLanguage = language; this.renderCodeTabs(); this.showCode(); },
    }, CODE_NAMES[language])));
  }

  renderCode(signed) {
    const { service, version, shapes } = this.action.service;
    const context = {
      service, version, shapes, input: this.action.input, action: this.action.name, params: this.params,
      region: client.credentials().region, endpoint: location.host, signed,
    };
    clear(byId("code"), ...CODE_LANGUAGES.map((language) =>
      h("pre", { className: "code", "data-testid": `code-${language}`, "data-language": language }, LANGUAGES[language](context))));
    this.showCode();
  }

  showCode() {
    for (const pre of byId("code").querySelectorAll("pre")) pre.hidden = pre.dataset.language !== this.codeLanguage;
  }

  setTask(text, status) {
    const element = byId("task-status");
    element.textContent = text;
    element.dataset.status = status;
  }

  async send() {
    if (!this.action) return;
    if (!client.hasKey()) {
      byId("response").textContent = "Enter a SecretId and SecretKey first.";
      return;
    }
    const call = this.call(byId("sign-method").value);
    const entry = history.add({ service: call.service, version: call.version, action: call.action, params: call.params });
    this.setTask("", "");
    byId("response").textContent = "…";
    let answer;
    try {
      answer = await client.send(call);
    } catch (error) {
      byId("response").textContent = `The request failed: ${error.message}`;
      history.update(entry, { code: "NetworkError" });
      return;
    }
    let shown = answer.text;
    try {
      shown = pretty(JSON.parse(answer.text));
    } catch { /* shown as returned */ }
    byId("response").textContent = shown;
    const response = answer.response || {};
    history.update(entry, { code: response.Error ? response.Error.Code : "Success", requestId: response.RequestId });
    this.preview();
    if (response.Error || !this.action.write) return;
    const taskId = response.TaskId || (call.service === "clb" ? response.RequestId : null);
    if (taskId) await this.follow(taskId, entry);
  }

  async follow(taskId, entry) {
    this.setTask(`Task ${taskId}: running`, "running");
    try {
      const final = await client.followTask(taskId, (name, status) => {
        const message = status.Message ? ` (${status.Message})` : "";
        this.setTask(`Task ${taskId}: ${name}${message}`, name);
      });
      history.update(entry, { taskId, task: final });
    } catch (error) {
      this.setTask(`No task to follow: ${error.message}`, "none");
    }
  }

  restore(entry) {
    const action = this.find(entry.service, entry.action);
    if (action) this.select(action, JSON.parse(JSON.stringify(entry.params)));
  }
}
