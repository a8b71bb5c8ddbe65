// Headless Chromium (Debian's, driven by puppeteer-core) on the admin page: open the device list,
// open a device, click "Sync machine policy", and the action arrives through the gateway's
// Notification long-poll. Usage: node admin_page.mjs URL SITE_TOKEN HIERARCHY
import puppeteer from "puppeteer-core";

const [url, siteToken, hierarchy] = process.argv.slice(2);
let count = 0, failed = 0;
const check = (ok, what) => { count++; if (!ok) failed++; console.log(`${ok ? "ok" : "not ok"} ${count} - ${what}`); };

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"],
});
try {
  const page = await browser.newPage();
  await page.goto(`${url}/?tenant=contoso.onmicrosoft.com&user=helpdesk@contoso.onmicrosoft.com`);
  const rows = await page.$$eval("#devices tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  check(rows.length > 0 && rows.every((r) => r[1] === "ConfigMgr"), `the device list shows ${rows.length} devices managed by ConfigMgr`);
  check(rows.some((r) => r[0] === "<script>alert(1)</script>"), "a device named <script>alert(1)</script> is shown as text");
  const dialogs = [];
  page.on("dialog", async (d) => { dialogs.push(d.message()); await d.dismiss(); });
  await Promise.all([page.waitForNavigation(), page.click("#devices tbody tr a")]);
  const poll = fetch(`${url}/api/gateway/Notification?hierarchyId=${hierarchy}&timeoutSeconds=30`, { headers: { Authorization: siteToken } });
  await new Promise((r) => setTimeout(r, 200));
  await Promise.all([page.waitForNavigation(), page.click("#refreshMachinePolicy")]);
  const message = await page.$eval("#message", (m) => m.textContent);
  check(/refreshMachinePolicy was sent/.test(message), `the page confirms: ${message}`);
  const got = await (await poll).json();
  const n = got.notifications?.[0];
  check(n && n.action === "refreshMachinePolicy" && n.initiatedBy.userPrincipalName === "helpdesk@contoso.onmicrosoft.com",
    "the click arrives through the gateway's Notification long-poll, as the signed-in user");
  check(dialogs.length === 0, "no script ran from a device name");
} catch (e) {
  check(false, `browser test failed: ${e.message}`);
} finally {
  await browser.close();
}
console.log(`# ${count} tests, ${failed} failed`);
process.exit(failed ? 1 : 0);
