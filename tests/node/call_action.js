// Calls one CLB action through the official Node SDK's CommonClient, as README.md shows.
// Usage: node call_action.js ACTION '{"json":"params"}'
// Env: OPENCLB_ENDPOINT (host:port), OPENCLB_SECRET_ID, OPENCLB_SECRET_KEY, OPENCLB_REGION; OPENCLB_SERVICE and
// OPENCLB_VERSION (default clb and 2018-03-17) call another service, e.g. openclb's admin API.
// Prints one JSON line: {"ok": true, "response": {...}} or {"ok": false, "code": ..., "message": ..., "requestId": ...}.
"use strict";
const { CommonClient } = require("tencentcloud-sdk-nodejs-common");

const [action = "DescribeLoadBalancers", params = "{}"] = process.argv.slice(2);
const service = process.env.OPENCLB_SERVICE || "clb";
const client = new CommonClient(`${service}.tencentcloudapi.com`, process.env.OPENCLB_VERSION || "2018-03-17", {
  credential: { secretId: process.env.OPENCLB_SECRET_ID, secretKey: process.env.OPENCLB_SECRET_KEY },
  region: process.env.OPENCLB_REGION || "ap-guangzhou",
  profile: { httpProfile: { protocol: "http://", endpoint: process.env.OPENCLB_ENDPOINT, reqTimeout: 30 } },
});

client.request(action, JSON.parse(params)).then(
  (response) => console.log(JSON.stringify({ ok: true, response })),
  (error) => {
    console.log(JSON.stringify({ ok: false, code: error.code || null, message: error.message, requestId: error.requestId || null }));
    process.exitCode = 1;
  },
);
