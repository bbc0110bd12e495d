// The Console view: the account's CLBs, listeners, rules and targets with live health, target
// groups and this tab's recent tasks, refreshed by polling signed calls while it is on screen.
// Its create forms use the same API calls as any client (CreateLoadBalancer, CreateListener,
// RegisterTargets), each followed with DescribeTaskStatus.

import { byId, clear, h } from "./dom.js";
import * as client from "./client.js";
import * as history from "./history.js";

const POLL_MS = 1500;
const HEALTH = { Alive: "healthy", Dead: "unhealthy" };
const L7 = new Set(["HTTP", "HTTPS"]);

export function healthOf(target) {
  return HEALTH[target.HealthStatusDetail] || "unknown";
}

async function optional(action, params, service = client.CLB) {
  try {
    return service ? await client.request(service, action, params) : null;
  } catch {
    return null;
  }
}

async function connectionCounts(services, ids) {
  const counts = {};
  for (let start = 0; start < ids.length; start += 30) {
    const answer = await optional("DescribeTargetConnections", { LoadBalancerIds: ids.slice(start, start + 30) }, services.openclb);
    for (const row of (answer && answer.Targets) || []) counts[`${row.ListenerId}|${row.Ip}|${row.Port}`] = row;
  }
  return counts;
}

async function snapshot(services) {
  const lbs = (await client.clb("DescribeLoadBalancers", { Limit: 100 })).LoadBalancerSet || [];
  const ids = lbs.map((lb) => lb.LoadBalancerId);
  const perLb = await Promise.all(lbs.map(async (lb) => {
    const [listeners, targets] = await Promise.all([
      client.clb("DescribeListeners", { LoadBalancerId: lb.LoadBalancerId }),
      client.clb("DescribeTargets", { LoadBalancerId: lb.LoadBalancerId }),
    ]);
    return { listeners: listeners.Listeners || [], targets: targets.Listeners || [] };
  }));
  const health = {};
  for (let start = 0; start < ids.length; start += 20) {
    const answer = await client.clb("DescribeTargetHealth", { LoadBalancerIds: ids.slice(start, start + 20) });
    for (const lb of answer.LoadBalancers || []) {
      for (const listener of lb.Listeners || []) {
        for (const rule of listener.Rules || []) {
          for (const target of rule.Targets || []) health[`${listener.ListenerId}|${target.IP}|${target.Port}`] = target;
        }
      }
    }
  }
  const [groups, certificates, connections] = await Promise.all([
    optional("DescribeTargetGroups", { Limit: 100 }),
    optional("DescribeCertificates", { Limit: 100 }, services.ssl),
    connectionCounts(services, ids),
  ]);
  return {
    lbs, perLb, health, connections,
    targetGroups: groups ? groups.TargetGroupSet || [] : null,
    certificates: certificates ? certificates.Certificates || [] : null,
  };
}

function targetRow(listenerId, target, data) {
  const ip = (target.PrivateIpAddresses || [])[0] || target.EniIp || "";
  const key = `${listenerId}|${ip}|${target.Port}`;
  const live = data.health[key];
  const state = live ? healthOf(live) : "unknown";
  const counts = data.connections[key];
  return h("li", {
    className: `target ${state}`, "data-testid": `target-${listenerId}-${ip}-${target.Port}`, "data-health": state,
    "data-connections": counts ? counts.ActiveConnections : null,
  },
    h("span", { className: "dot" }), `${ip}:${target.Port}`, h("span", { className: "muted" }, ` weight ${target.Weight}`),
    h("span", { className: "health" }, ` ${state}${live ? ` (${live.HealthStatusDetail})` : ""}`),
    counts ? h("span", { className: "muted" },
      ` · ${counts.ActiveConnections} active / ${counts.TotalConnections} total connections`) : null);
}

function listenerCard(listener, backends, data) {
  const health = data.health;
  const backend = backends.find((b) => b.ListenerId === listener.ListenerId) || { Targets: [], Rules: [] };
  const all = [...(backend.Targets || []), ...(backend.Rules || []).flatMap((r) => r.Targets || [])];
  const states = all.map((t) => {
    const live = health[`${listener.ListenerId}|${(t.PrivateIpAddresses || [])[0]}|${t.Port}`];
    return live ? healthOf(live) : "unknown";
  });
  const healthy = states.filter((s) => s === "healthy").length;
  const state = all.length === 0 ? "no targets" : `${healthy}/${all.length} healthy`;
  const cert = listener.Certificate && listener.Certificate.CertId ? ` · certificate ${listener.Certificate.CertId}` : "";
  const rules = L7.has(listener.Protocol)
    ? (backend.Rules || []).map((rule) => h("div", { className: "rule", "data-testid": `rule-${rule.LocationId}` },
      h("div", {}, h("strong", {}, `${rule.Domain}${rule.Url}`), h("span", { className: "muted" }, ` ${rule.LocationId}`)),
      h("ul", { className: "targets" }, ...(rule.Targets || []).map((t) => targetRow(listener.ListenerId, t, data)))))
    : [h("ul", { className: "targets" }, ...(backend.Targets || []).map((t) => targetRow(listener.ListenerId, t, data)))];
  return h("div", { className: "listener", "data-testid": `listener-${listener.ListenerId}`, "data-state": state },
    h("div", { className: "listener-head" },
      h("span", { className: "protocol" }, listener.Protocol), h("strong", {}, ` :${listener.Port}`),
      ` ${listener.ListenerName || ""} `, h("span", { className: "muted" }, listener.ListenerId),
      h("span", { className: "state" }, ` ${state}${cert}`)),
    ...rules);
}

function clbCard(lb, perLb, data) {
  const vips = (lb.LoadBalancerVips || []).join(", ");
  return h("div", { className: "clb", "data-testid": `clb-${lb.LoadBalancerId}` },
    h("div", { className: "clb-head" }, h("strong", {}, lb.LoadBalancerName), ` ${lb.LoadBalancerId} `,
      h("span", { className: "vip" }, `VIP ${vips}`), h("span", { className: "muted" }, ` · ${lb.LoadBalancerType || ""}`)),
    perLb.listeners.length ? perLb.listeners.map((l) => listenerCard(l, perLb.targets, data))
      : h("p", { className: "muted" }, "No listeners."));
}

function tasksSection() {
  const tasks = history.tasks().slice(0, 10);
  return h("section", { className: "recent-tasks" }, h("h2", {}, "Recent tasks (this tab)"),
    tasks.length ? h("ul", {}, ...tasks.map((t) => h("li", { "data-testid": `task-${t.taskId}` },
      `${t.at.slice(11, 19)} ${t.action} `, h("span", { className: "muted" }, t.taskId), ` ${t.task || "running"}`)))
      : h("p", { className: "muted" }, "No task started from this tab yet."));
}

function groupsSection(groups) {
  if (groups === null) return null;
  return h("section", {}, h("h2", {}, "Target groups"), groups.length
    ? h("ul", {}, ...groups.map((g) => h("li", { "data-testid": `targetgroup-${g.TargetGroupId}` },
      `${g.TargetGroupName} `, h("span", { className: "muted" }, g.TargetGroupId), ` port ${g.Port ?? "-"}`)))
    : h("p", { className: "muted" }, "None."));
}

function certificatesSection(certificates) {
  if (certificates === null) return null;
  return h("section", {}, h("h2", {}, "Certificates"), certificates.length
    ? h("ul", {}, ...certificates.map((c) => h("li", { "data-testid": `certificate-${c.CertificateId}` },
      `${c.Alias || c.CertificateId} `, h("span", { className: "muted" }, c.CertificateId),
      ` ${c.Domain || ""} ${c.CertificateType || ""} until ${c.CertEndTime || "-"}`)))
    : h("p", { className: "muted" }, "None."));
}

export class ResourcesView {
  /** `services`: {name: {service, version}} of the catalog (ssl and openclb's admin when served). */
  constructor(services) {
    this.services = services;
    this.timer = null;
    this.active = false;
    this.latest = null;
    byId("create-clb").addEventListener("submit", (e) => this.submit(e, this.createClb));
    byId("create-listener").addEventListener("submit", (e) => this.submit(e, this.createListener));
    byId("register-target").addEventListener("submit", (e) => this.submit(e, this.registerTarget));
  }

  show(active) {
    this.active = active;
    if (active) this.refresh();
    else clearTimeout(this.timer);
  }

  async refresh() {
    clearTimeout(this.timer);
    if (!this.active) return;
    if (!client.hasKey()) {
      byId("resources-state").textContent = "Enter a SecretId and SecretKey to see this account's resources.";
    } else {
      try {
        const data = await snapshot(this.services);
        this.render(data);
        byId("resources-state").textContent = `updated ${new Date().toLocaleTimeString()}`;
      } catch (error) {
        byId("resources-state").textContent = `Not updated: ${error.message}`;
      }
    }
    if (this.active) this.timer = setTimeout(() => this.refresh(), POLL_MS);
  }

  render(data) {
    this.latest = data;
    clear(byId("resource-tree"),
      h("section", {}, h("h2", {}, `Load balancers (${data.lbs.length})`),
        ...data.lbs.map((lb, i) => clbCard(lb, data.perLb[i], data))),
      groupsSection(data.targetGroups), certificatesSection(data.certificates), tasksSection());
    this.fillSelects(data);
  }

  fillSelects(data) {
    const keep = (select, options) => {
      const value = select.value;
      clear(select, ...options.map(([v, label]) => h("option", { value: v }, label)));
      if (options.some(([v]) => v === value)) select.value = value;
    };
    keep(byId("create-listener").elements.lb, data.lbs.map((lb) => [lb.LoadBalancerId, `${lb.LoadBalancerName} ${lb.LoadBalancerId}`]));
    const places = [];
    data.lbs.forEach((lb, i) => {
      for (const listener of data.perLb[i].listeners) {
        if (!L7.has(listener.Protocol)) {
          places.push([`${lb.LoadBalancerId}|${listener.ListenerId}|`, `${listener.Protocol}:${listener.Port} ${listener.ListenerId}`]);
        }
        for (const rule of listener.Rules || []) {
          places.push([`${lb.LoadBalancerId}|${listener.ListenerId}|${rule.LocationId}`,
            `${listener.Protocol}:${listener.Port} ${rule.Domain}${rule.Url}`]);
        }
      }
    });
    keep(byId("register-target").elements.listener, places);
  }

  async submit(event, make) {
    event.preventDefault();
    const form = event.target;
    const message = byId("resources-message");
    const { action, params } = make(form.elements);
    message.textContent = `${action}…`;
    const entry = history.add({ ...client.CLB, action, params });
    try {
      const response = await client.clb(action, params);
      history.update(entry, { code: "Success", requestId: response.RequestId, taskId: response.RequestId });
      const final = await client.followTask(response.RequestId, (name) => { message.textContent = `${action}: task ${name}`; });
      history.update(entry, { task: final });
      message.textContent = `${action}: task ${final}`;
    } catch (error) {
      history.update(entry, { code: error.Code || "Error" });
      message.textContent = `${action}: ${error.message}`;
    }
    this.refresh();
  }

  createClb(fields) {
    return { action: "CreateLoadBalancer", params: { LoadBalancerType: "OPEN", LoadBalancerName: fields.name.value } };
  }

  createListener(fields) {
    const params = { LoadBalancerId: fields.lb.value, Protocol: fields.protocol.value, Ports: [Number(fields.port.value)] };
    if (fields.name.value) params.ListenerNames = [fields.name.value];
    return { action: "CreateListener", params };
  }

  registerTarget(fields) {
    const [lbId, listenerId, locationId] = fields.listener.value.split("|");
    const target = { EniIp: fields.ip.value, Port: Number(fields.port.value) };
    if (fields.weight.value) target.Weight = Number(fields.weight.value);
    const params = { LoadBalancerId: lbId, ListenerId: listenerId, Targets: [target] };
    if (locationId) params.LocationId = locationId;
    return { action: "RegisterTargets", params };
  }
}
