// Microsoft's Graph SDK for JavaScript (@microsoft/microsoft-graph-client) against tenant-attach-cloud,
// changed only in its base URL and custom host. Usage: node graph_sdk.mjs URL (NODE_EXTRA_CA_CERTS=CA).
import { Client, PageIterator } from "@microsoft/microsoft-graph-client";

const url = process.argv[2];
let count = 0, failed = 0;
const check = (ok, what) => { count++; if (!ok) failed++; console.log(`${ok ? "ok" : "not ok"} ${count} - ${what}`); };

const form = new URLSearchParams({ grant_type: "client_credentials", client_id: "e0000000-0000-4000-8000-000000000001",
  client_secret: "local~automation.secret.0001", scope: "https://graph.microsoft.com/.default" });
const token = (await (await fetch(`${url}/contoso.onmicrosoft.com/oauth2/v2.0/token`, { method: "POST", body: form })).json()).access_token;
const client = Client.init({
  authProvider: (done) => done(null, token),
  baseUrl: url,
  defaultVersion: "beta",
  customHosts: new Set([new URL(url).hostname]),
});
try {
  const page = await client.api("/deviceManagement/managedDevices").filter("managementAgent eq 'configurationManagerClient'").top(2).get();
  check(Array.isArray(page.value), `the SDK lists managed devices (${page.value.length} on the first page)`);
  const names = [];
  const it = new PageIterator(client, page, (d) => { names.push(d.deviceName); return true; });
  await it.iterate();
  check(names.length === 5 && new Set(names).size === 5, `the SDK's PageIterator follows @odata.nextLink through every page (${names.length})`);
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
    check(e.statusCode === 400 && /refreshMachinePolicy/.test(e.message), `the SDK surfaces Graph's error for an unsupported action: ${e.message.slice(0, 60)}`);
  }
  const batch = await client.api("/$batch").post({ requests: [
    { id: "1", method: "GET", url: `/deviceManagement/managedDevices/${first.id}` },
    { id: "2", method: "GET", url: "/deviceManagement/managedDevices/00000000-0000-0000-0000-000000000000" } ] });
  const status = Object.fromEntries(batch.responses.map((r) => [r.id, r.status]));
  check(status["1"] === 200 && status["2"] === 404, "JSON batching answers each step");
} catch (e) {
  check(false, `Graph SDK call failed: ${e.message}`);
}
console.log(`# ${count} tests, ${failed} failed`);
process.exit(failed ? 1 : 0);
