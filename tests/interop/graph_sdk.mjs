// Microsoft's Graph SDK for JavaScript (@microsoft/microsoft-graph-client) against tenant-attach-cloud,
// changed only in its base URL and custom host. Checks codes and shapes (status, error.code, Intune's
// JSON-in-a-string message, batch step headers), never the services' prose.
// Usage: node graph_sdk.mjs URL (NODE_EXTRA_CA_CERTS=CA).
import { BatchRequestContent, BatchResponseContent, Client, PageIterator } from "@microsoft/microsoft-graph-client";

const url = process.argv[2];
let count = 0, failed = 0;
const check = (ok, what) => { count++; if (!ok) failed++; console.log(`${ok ? "ok" : "not ok"} ${count} - ${what}`); };
const GRAPH_POWERSHELL = "14d82eec-204b-4c2f-b7e8-296a70dab67e";

const post = async (path, body, form) => fetch(`${url}${path}`, form
  ? { method: "POST", body: new URLSearchParams(body) }
  : { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
const appToken = async (clientId, secret) => (await (await post("/contoso.onmicrosoft.com/oauth2/v2.0/token",
  { grant_type: "client_credentials", client_id: clientId, client_secret: secret, scope: "https://graph.microsoft.com/.default" }, true)).json()).access_token;
// A person's token by the device code flow, approved through the cloud's /_admin.
const userToken = async (scope, user) => {
  const code = await (await post("/organizations/oauth2/v2.0/devicecode", { client_id: GRAPH_POWERSHELL, scope }, true)).json();
  await post("/_admin/devicecode", { userCode: code.user_code, user });
  const token = await (await post("/organizations/oauth2/v2.0/token",
    { grant_type: "urn:ietf:params:oauth:grant-type:device_code", client_id: GRAPH_POWERSHELL, device_code: code.device_code }, true)).json();
  return token.access_token;
};
const sdk = (token) => Client.init({
  authProvider: (done) => done(null, token),
  baseUrl: url,
  defaultVersion: "beta",
  customHosts: new Set([new URL(url).hostname]),
});
// Intune's errors: GraphError's code, and a message that is itself JSON (_version 3, Message).
const intune = (e) => { try { const m = JSON.parse(e.message); return m._version === 3 && typeof m.Message === "string"; } catch { return false; } };

const client = sdk(await appToken("e0000000-0000-4000-8000-000000000001", "local~automation.secret.0001"));
try {
  const page = await client.api("/deviceManagement/managedDevices").filter("managementAgent eq 'configurationManagerClient'").top(2).get();
  check(Array.isArray(page.value) && page["@odata.count"] === page.value.length, `the SDK lists managed devices (${page.value.length} on the first page, @odata.count)`);
  const names = [];
  const it = new PageIterator(client, page, (d) => { names.push(d.deviceName); return true; });
  await it.iterate();
  check(names.length === 5 && new Set(names).size === 5, `the SDK's PageIterator follows @odata.nextLink through every page (${names.length})`);
  const ignored = await client.api("/deviceManagement/managedDevices").filter("userId eq 'a0000000-0000-4000-8000-000000000001'").get();
  check(ignored.value.length === 5 && ignored["@odata.nextLink"] === undefined, "a filter on a property Intune does not filter on is ignored: every device");
  const first = page.value[0];
  await client.api(`/deviceManagement/managedDevices/${first.id}/triggerConfigurationManagerAction`)
    .post({ configurationManagerAction: { action: "refreshMachinePolicy" } });
  check(true, "the SDK triggers a ConfigMgr action (204)");
  const device = await client.api(`/deviceManagement/managedDevices/${first.id}`).get();
  check(device.deviceActionResults.some((r) => r.actionName === "refreshMachinePolicy"), "the action shows in deviceActionResults");
  try {
    await client.api(`/deviceManagement/managedDevices/${first.id}/triggerConfigurationManagerAction`).post({ configurationManagerAction: { action: "quickScan" } });
    check(false, "an unsupported action is refused");
  } catch (e) {
    check(e.statusCode === 400 && e.code === "BadRequest" && intune(e), `an unsupported action: GraphError 400 BadRequest with Intune's message (${e.statusCode} ${e.code})`);
  }
  try {
    await client.api("/deviceManagement/managedDevices/00000000-0000-0000-0000-000000000000").get();
    check(false, "an unknown device is not found");
  } catch (e) {
    check(e.statusCode === 404 && e.code === "ResourceNotFound" && intune(e), `an unknown device: 404 ResourceNotFound (${e.statusCode} ${e.code})`);
  }

  // Permissions as Intune checks them: scopes of a delegated token, roles of an app token.
  const noIntuneScope = sdk(await userToken("User.Read", "admin@contoso.onmicrosoft.com"));
  try {
    await noIntuneScope.api("/deviceManagement/managedDevices").get();
    check(false, "a delegated token without an Intune scope is refused");
  } catch (e) {
    check(e.statusCode === 403 && e.code === "Forbidden" && intune(e), `a delegated token without an Intune scope: 403 Forbidden (${e.statusCode} ${e.code})`);
  }
  await post("/_admin/seed", { apps: [{ appId: "e0000000-0000-4000-8000-0000000000b1", tenantId: "c0ffee00-0000-4000-8000-000000000001",
    displayName: "Actions only", secret: "sdk~actions.only", grantedRoles: ["DeviceManagementManagedDevices.PrivilegedOperations.All"] }] });
  const actionsOnly = sdk(await appToken("e0000000-0000-4000-8000-0000000000b1", "sdk~actions.only"));
  try {
    await actionsOnly.api("/deviceManagement/managedDevices").get();
    check(false, "an app with only PrivilegedOperations.All cannot list");
  } catch (e) {
    check(e.statusCode === 403 && e.code === "Forbidden", `an app with only PrivilegedOperations.All cannot list (${e.statusCode} ${e.code})`);
  }
  await actionsOnly.api(`/deviceManagement/managedDevices/${first.id}/triggerConfigurationManagerAction`)
    .post({ configurationManagerAction: { action: "appEvaluation" } });
  check(true, "an app with only PrivilegedOperations.All triggers an action");

  const batch = await client.api("/$batch").post({ requests: [
    { id: "1", method: "GET", url: `/deviceManagement/managedDevices/${first.id}` },
    { id: "2", method: "GET", url: "/deviceManagement/managedDevices/00000000-0000-0000-0000-000000000000" } ] });
  const status = Object.fromEntries(batch.responses.map((r) => [r.id, r.status]));
  check(status["1"] === 200 && status["2"] === 404, "JSON batching answers each step");
  // The SDK's own batch classes read the step answers (they look for the "Content-Type" header).
  const steps = new BatchRequestContent([{ id: "a", request: new Request(`${url}/beta/deviceManagement/managedDevices/${first.id}`, { method: "GET" }) }]);
  const read = new BatchResponseContent(await client.api("/$batch").post(await steps.getContent()));
  const one = await read.getResponseById("a").json();
  check(one.id === first.id, "BatchResponseContent reads a step's JSON body");
  // A throttled step: 429 with a decimal Retry-After under Graph's header name.
  await post("/_admin/faults", { mode: "throttle", rate: 1.0, target: "batchStep", retryAfterSeconds: 0.5, limit: 1 });
  const again = new BatchRequestContent([{ id: "t", request: new Request(`${url}/beta/deviceManagement/managedDevices/${first.id}`, { method: "GET" }) }]);
  const throttled = new BatchResponseContent(await client.api("/$batch").post(await again.getContent())).getResponseById("t");
  check(throttled.status === 429 && throttled.headers.get("Retry-After") === "0.5", `a throttled step: 429, Retry-After 0.5 (${throttled.status} ${throttled.headers.get("Retry-After")})`);
  await post("/_admin/faults", { rules: [] });
} catch (e) {
  check(false, `Graph SDK call failed: ${e.statusCode ?? ""} ${e.code ?? ""} ${e.message}`);
}
console.log(`# ${count} tests, ${failed} failed`);
process.exit(failed ? 1 : 0);
