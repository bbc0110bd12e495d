// Request signing, computed in the browser: TC3-HMAC-SHA256 (every step kept for display) and
// the v1 HmacSHA256 form. Web Crypto where the page is a secure context, else ./sha256.js.
// The JSON body is written the way the Python SDK writes it (json.dumps: ", " and ": "
// separators, non-ASCII escaped), so the same parameters and timestamp give the same signature.

import { hmacSha256, sha256 } from "./sha256.js";

const encoder = new TextEncoder();
const subtle = globalThis.crypto && globalThis.crypto.subtle;

export const TC3_CONTENT_TYPE = "application/json";

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

async function digest(text) {
  const data = encoder.encode(text);
  return subtle ? new Uint8Array(await subtle.digest("SHA-256", data)) : sha256(data);
}

async function hmac(key, text) {
  const data = encoder.encode(text);
  if (!subtle) return hmacSha256(key, data);
  const imported = await subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await subtle.sign("HMAC", imported, data));
}

function asciiString(text) {
  return JSON.stringify(text).replace(/[\u0080-\uffff]/g, (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
}

/** JSON as Python's json.dumps writes it. */
export function pythonJson(value) {
  if (value === null || value === undefined) return "null";
  if (Array.isArray(value)) return "[" + value.map(pythonJson).join(", ") + "]";
  if (typeof value === "object") {
    return "{" + Object.entries(value).map(([k, v]) => asciiString(k) + ": " + pythonJson(v)).join(", ") + "}";
  }
  if (typeof value === "string") return asciiString(value);
  return JSON.stringify(value);
}

export function utcDate(timestamp) {
  return new Date(timestamp * 1000).toISOString().slice(0, 10);
}

/**
 * TC3-HMAC-SHA256 for a POST of `payload` to `/` on `host`.
 * Returns every intermediate step and the headers to send.
 */
export async function signTc3(call) {
  const { secretId, secretKey, token, service, host, action, version, region, language, payload, timestamp } = call;
  const date = utcDate(timestamp);
  const signedHeaders = "content-type;host";
  const canonicalHeaders = `content-type:${TC3_CONTENT_TYPE}\nhost:${host}\n`;
  const canonicalRequest = ["POST", "/", "", canonicalHeaders, signedHeaders, hex(await digest(payload))].join("\n");
  const scope = `${date}/${service}/tc3_request`;
  const stringToSign = ["TC3-HMAC-SHA256", String(timestamp), scope, hex(await digest(canonicalRequest))].join("\n");
  const secretDate = await hmac(encoder.encode("TC3" + secretKey), date);
  const secretService = await hmac(secretDate, service);
  const secretSigning = await hmac(secretService, "tc3_request");
  const signature = hex(await hmac(secretSigning, stringToSign));
  const authorization =
    `TC3-HMAC-SHA256 Credential=${secretId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  const headers = {
    Authorization: authorization,
    "Content-Type": TC3_CONTENT_TYPE,
    "X-TC-Action": action,
    "X-TC-Timestamp": String(timestamp),
    "X-TC-Version": version,
    "X-TC-Region": region,
  };
  if (token) headers["X-TC-Token"] = token;
  if (language) headers["X-TC-Language"] = language;
  return { canonicalRequest, stringToSign, signature, authorization, headers, body: payload };
}

/** Parameters flattened the v1 way: `Ports.0=80`, `HealthCheck.TimeOut=2`. */
export function flatten(value, prefix = "", into = {}) {
  if (Array.isArray(value)) {
    value.forEach((item, index) => flatten(item, `${prefix}.${index}`, into));
  } else if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) flatten(item, prefix ? `${prefix}.${key}` : key, into);
  } else if (value !== null && value !== undefined) {
    into[prefix] = String(value);
  }
  return into;
}

/** The v1 HmacSHA256 signature of a form POST to `/` on `host`. */
export async function signV1(call) {
  const { secretId, secretKey, token, host, action, version, region, params, timestamp, nonce } = call;
  const all = {
    ...flatten(params),
    Action: action,
    Version: version,
    Region: region,
    Timestamp: String(timestamp),
    Nonce: String(nonce),
    SecretId: secretId,
    SignatureMethod: "HmacSHA256",
  };
  if (token) all.Token = token;
  const sorted = Object.keys(all).sort();
  const stringToSign = `POST${host}/?` + sorted.map((k) => `${k}=${all[k]}`).join("&");
  const signature = btoa(String.fromCharCode(...(await hmac(encoder.encode(secretKey), stringToSign))));
  const form = new URLSearchParams();
  for (const key of sorted) form.append(key, all[key]);
  form.append("Signature", signature);
  return { stringToSign, signature, body: form.toString(), headers: { "Content-Type": "application/x-www-form-urlencoded" } };
}
