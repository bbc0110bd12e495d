// The page as an API client: credentials and region kept in this tab's session storage only,
// every call signed here and POSTed to `/` of this server, like any SDK would.

import { pythonJson, signTc3, signV1 } from "./sign.js";

const STORE = sessionStorage;
const FIELDS = ["secretId", "secretKey", "token", "region"];
export const DEFAULT_REGION = "ap-guangzhou";
export const CLB = { service: "clb", version: "2018-03-17" };

export function credentials() {
  const found = {};
  for (const field of FIELDS) found[field] = STORE.getItem(`openclb.${field}`) || "";
  found.region = found.region || DEFAULT_REGION;
  return found;
}

export function saveCredential(field, value) {
  if (value) STORE.setItem(`openclb.${field}`, value);
  else STORE.removeItem(`openclb.${field}`);
}

export function hasKey() {
  const { secretId, secretKey } = credentials();
  return Boolean(secretId && secretKey);
}

/** Sign one call; `method` is "TC3-HMAC-SHA256" or "HmacSHA256". */
export async function sign({ service, version, action, params, timestamp, method }) {
  const { secretId, secretKey, token, region } = credentials();
  const common = { secretId, secretKey, token, service, version, action, region, host: location.host, timestamp };
  if (method === "HmacSHA256") {
    const nonce = Math.floor(Math.random() * 2 ** 31);
    return { method, ...(await signV1({ ...common, params, nonce })) };
  }
  return { method: "TC3-HMAC-SHA256", ...(await signTc3({ ...common, payload: pythonJson(params) })) };
}

export function now() {
  return Math.floor(Date.now() / 1000);
}

/** Send a signed call; resolves to { signed, text, response } (`response` is the envelope's inside). */
export async function send(call) {
  const signed = await sign({ timestamp: now(), ...call });
  const answer = await fetch("/", { method: "POST", headers: signed.headers, body: signed.body, cache: "no-store" });
  const text = await answer.text();
  let response = null;
  try {
    response = JSON.parse(text).Response || null;
  } catch {
    response = null;
  }
  return { signed, text, response, status: answer.status };
}

/** A CLB call's Response, or an Error carrying the API's code and message. */
export async function clb(action, params = {}) {
  return request(CLB, action, params);
}

/** A call of `service` ({service, version}): its Response, or an Error with the API's code. */
export async function request(service, action, params = {}) {
  const { response } = await send({ service: service.service, version: service.version, action, params });
  if (!response) throw new Error(`${action}: no answer`);
  if (response.Error) throw Object.assign(new Error(`${response.Error.Code}: ${response.Error.Message}`), response.Error);
  return response;
}

const STATUS_NAMES = { 0: "success", 1: "failed", 2: "running" };

/** Poll DescribeTaskStatus until the task leaves Status 2; `onUpdate(name, response)` each time. */
export async function followTask(taskId, onUpdate, { interval = 300, limit = 400 } = {}) {
  for (let attempt = 0; attempt < limit; attempt++) {
    const response = await clb("DescribeTaskStatus", { TaskId: taskId });
    const name = STATUS_NAMES[response.Status] || `status ${response.Status}`;
    onUpdate(name, response);
    if (response.Status !== 2) return name;
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
  return "running";
}
