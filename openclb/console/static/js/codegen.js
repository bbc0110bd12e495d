// SDK code for the exact call on screen. Each program reads the key from TENCENTCLOUD_SECRET_ID
// and TENCENTCLOUD_SECRET_KEY and aims at this server; curl instead carries the TC3 signature
// computed for the moment shown (valid while the server accepts that timestamp).

const quoteShell = (text) => `'${String(text).replace(/'/g, `'\\''`)}'`;
const pretty = (params) => JSON.stringify(params, null, 4);
const SCALAR_STRINGS = new Set(["string", "datetime"]);

export function python({ service, version, action, params, region, endpoint }) {
  const head = [
    "import json",
    "import os",
    "",
  ];
  const profile = [
    'cred = credential.Credential(os.environ["TENCENTCLOUD_SECRET_ID"], os.environ["TENCENTCLOUD_SECRET_KEY"])',
    `profile = ClientProfile(httpProfile=HttpProfile(endpoint="http://${endpoint}"))`,
  ];
  const common = [
    "from tencentcloud.common import credential",
    "from tencentcloud.common.profile.client_profile import ClientProfile",
    "from tencentcloud.common.profile.http_profile import HttpProfile",
  ];
  const body = `params = json.loads(r"""\n${pretty(params)}\n""")`;
  if (service === "clb") {
    return [
      ...head,
      "from tencentcloud.clb.v20180317 import clb_client, models",
      ...common, "", ...profile,
      `client = clb_client.ClbClient(cred, "${region}", profile)`,
      "", body,
      `request = models.${action}Request()`,
      "request.from_json_string(json.dumps(params))",
      `print(client.${action}(request).to_json_string())`,
      "",
    ].join("\n");
  }
  return [
    ...head, ...common,
    "from tencentcloud.common.common_client import CommonClient",
    "", ...profile,
    `client = CommonClient("${service}", "${version}", cred, "${region}", profile=profile)`,
    "", body,
    `print(json.dumps(client.call_json("${action}", params)["Response"]))`,
    "",
  ].join("\n");
}

export function node({ service, version, action, params, region, endpoint }) {
  return [
    'const { CommonClient } = require("tencentcloud-sdk-nodejs-common");',
    "",
    `const client = new CommonClient("${service}.tencentcloudapi.com", "${version}", {`,
    "  credential: { secretId: process.env.TENCENTCLOUD_SECRET_ID, secretKey: process.env.TENCENTCLOUD_SECRET_KEY },",
    `  region: "${region}",`,
    `  profile: { httpProfile: { protocol: "http://", endpoint: "${endpoint}" } },`,
    "});",
    "",
    `const params = ${JSON.stringify(params, null, 2)};`,
    `client.request("${action}", params).then(`,
    "  (response) => console.log(JSON.stringify(response)),",
    "  (error) => {",
    "    console.error(error.code, error.message);",
    "    process.exitCode = 1;",
    "  },",
    ");",
    "",
  ].join("\n");
}

export function go({ service, version, action, params, region, endpoint }) {
  const raw = pretty(params).replace(/`/g, "` + \"`\" + `");
  return [
    "package main",
    "",
    "import (",
    '\t"fmt"',
    '\t"os"',
    "",
    '\t"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common"',
    '\ttchttp "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/http"',
    '\t"github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common/profile"',
    ")",
    "",
    "func main() {",
    '\tcredential := common.NewCredential(os.Getenv("TENCENTCLOUD_SECRET_ID"), os.Getenv("TENCENTCLOUD_SECRET_KEY"))',
    "\tclientProfile := profile.NewClientProfile()",
    `\tclientProfile.HttpProfile.Endpoint = "${endpoint}"`,
    '\tclientProfile.HttpProfile.Scheme = "HTTP"',
    `\tclient := common.NewCommonClient(credential, "${region}", clientProfile)`,
    "",
    `\trequest := tchttp.NewCommonRequest("${service}", "${version}", "${action}")`,
    `\tparams := \`${raw}\``,
    "\tif err := request.SetActionParameters(params); err != nil {",
    "\t\tpanic(err)",
    "\t}",
    "\tresponse := tchttp.NewCommonResponse()",
    "\tif err := client.Send(request, response); err != nil {",
    "\t\tfmt.Println(err)",
    "\t\tos.Exit(1)",
    "\t}",
    "\tfmt.Println(string(response.GetBody()))",
    "}",
    "",
  ].join("\n");
}

export function java({ service, version, action, params, region, endpoint }) {
  return [
    "import com.tencentcloudapi.common.CommonClient;",
    "import com.tencentcloudapi.common.Credential;",
    "import com.tencentcloudapi.common.exception.TencentCloudSDKException;",
    "import com.tencentcloudapi.common.profile.ClientProfile;",
    "import com.tencentcloudapi.common.profile.HttpProfile;",
    "",
    `public class ${action} {`,
    "    public static void main(String[] args) throws TencentCloudSDKException {",
    '        Credential cred = new Credential(System.getenv("TENCENTCLOUD_SECRET_ID"), System.getenv("TENCENTCLOUD_SECRET_KEY"));',
    "        HttpProfile httpProfile = new HttpProfile();",
    `        httpProfile.setEndpoint("${endpoint}");`,
    '        httpProfile.setProtocol("http://");',
    "        ClientProfile clientProfile = new ClientProfile();",
    "        clientProfile.setHttpProfile(httpProfile);",
    `        CommonClient client = new CommonClient("${service}", "${version}", cred, "${region}", clientProfile);`,
    `        String params = ${JSON.stringify(JSON.stringify(params))};`,
    `        System.out.println(client.call("${action}", params));`,
    "    }",
    "}",
    "",
  ].join("\n");
}

export function tccli({ service, action, params, region, endpoint, shapes, input }) {
  if (service === "openclb") return `# tccli has no "${service}" service: use the Python, Node, Go or Java code.\n`;
  const members = Object.fromEntries((shapes[input] || []).map((m) => [m.name, m]));
  const args = Object.entries(params).map(([name, value]) => {
    const member = members[name];
    const plain = member && member.type !== "list" && SCALAR_STRINGS.has(member.member) && typeof value === "string";
    return `  --${name} ${quoteShell(plain ? value : JSON.stringify(value))}`;
  });
  return [
    "# tccli reads TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY from the environment.",
    [`tccli ${service} ${action} --region ${region} --endpoint http://${endpoint}`, ...args].join(" \\\n"),
    "",
  ].join("\n");
}

export function curl({ signed, endpoint }) {
  if (!signed || !signed.headers || !signed.headers.Authorization) {
    return "# Enter a SecretId and SecretKey: curl needs the signature computed with them.\n";
  }
  const headers = Object.entries(signed.headers).map(([k, v]) => `  -H ${quoteShell(`${k}: ${v}`)}`);
  return [
    `# Signed for X-TC-Timestamp ${signed.headers["X-TC-Timestamp"]}: the server accepts it for a few minutes only.`,
    [`curl -sS -X POST http://${endpoint}/`, ...headers, `  --data-raw ${quoteShell(signed.body)}`].join(" \\\n"),
    "",
  ].join("\n");
}

export const LANGUAGES = { python, node, go, java, tccli, curl };
