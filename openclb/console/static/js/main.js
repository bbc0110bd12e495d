// Start-up: credentials fields bound to session storage, the catalog loaded, the two views.

import { byId } from "./dom.js";
import * as client from "./client.js";
import { Explorer } from "./explorer.js";
import { ResourcesView } from "./resources.js";

const REGIONS = ["ap-guangzhou", "ap-shanghai", "ap-beijing", "ap-chengdu", "ap-hongkong", "ap-singapore", "ap-tokyo",
  "eu-frankfurt", "na-siliconvalley", "na-ashburn"];

function bindCredentials(onChange) {
  const fields = { secretId: "secret-id", secretKey: "secret-key", token: "token", region: "region" };
  const current = client.credentials();
  for (const [field, id] of Object.entries(fields)) {
    const input = byId(id);
    input.value = current[field];
    input.addEventListener("input", () => {
      client.saveCredential(field, input.value.trim());
      onChange();
    });
  }
  for (const region of REGIONS) byId("regions").append(new Option(region, region));
  byId("credentials").addEventListener("submit", (event) => event.preventDefault());
}

function bindTabs(views) {
  for (const tab of document.querySelectorAll(".top .tab")) {
    tab.addEventListener("click", () => {
      for (const other of document.querySelectorAll(".top .tab")) other.classList.toggle("active", other === tab);
      for (const view of document.querySelectorAll("main > .view")) view.hidden = view.id !== tab.dataset.view;
      views.resources.show(tab.dataset.view === "resources");
    });
  }
}

async function start() {
  const answer = await fetch("catalog.json", { cache: "no-cache" });
  const catalog = await answer.json();
  const explorer = new Explorer(catalog);
  const services = Object.fromEntries(catalog.services.map((s) => [s.service, { service: s.service, version: s.version }]));
  const resources = new ResourcesView(services);
  bindCredentials(() => {
    explorer.preview();
    if (resources.active) resources.refresh();
  });
  bindTabs({ explorer, resources });
  const wanted = new URLSearchParams(location.hash.slice(1)).get("action");
  const first = (wanted && explorer.actions.find((a) => a.name === wanted)) || explorer.find("clb", "DescribeLoadBalancers");
  if (first) explorer.select(first);
  document.body.dataset.ready = "true";
}

start().catch((error) => {
  document.body.dataset.ready = "error";
  byId("action-name").textContent = `The console could not start: ${error.message}`;
});
