"""Microsoft's MSAL for Python against tenant-attach-cloud: client credentials and the device code
flow, with MSAL changed only in its authority URL, instance discovery and CA (verify) settings.
Checks codes and shapes (error, error_codes, token claims), never the services' prose.
Prints TAP lines. Usage: test_msal.py URL CA_FILE
"""
import json
import os
import sys
import threading
import time

import msal
import requests

URL, CA = sys.argv[1], sys.argv[2]
# requests lets REQUESTS_CA_BUNDLE (set machine-wide on some hosts) override a session's `verify`,
# which is how MSAL passes its CA: drop it so MSAL's own setting is the one in force.
for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
    os.environ.pop(name, None)
CONTOSO = "contoso.onmicrosoft.com"
CONTOSO_ID = "c0ffee00-0000-4000-8000-000000000001"
V1_ISSUER = f"https://sts.windows.net/{CONTOSO_ID}/"
AUTOMATION_APP = "e0000000-0000-4000-8000-000000000001"
AUTOMATION_SECRET = "local~automation.secret.0001"
GRAPH_POWERSHELL = "14d82eec-204b-4c2f-b7e8-296a70dab67e"
count = 0
failed = 0


def check(ok, what):
    global count, failed
    count += 1
    failed += 0 if ok else 1
    print(("ok" if ok else "not ok"), count, "-", what, flush=True)


def claims(token):
    import base64
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


app = msal.ConfidentialClientApplication(
    AUTOMATION_APP, client_credential=AUTOMATION_SECRET, authority=f"{URL}/{CONTOSO}", verify=CA, instance_discovery=False
)
result = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
check("access_token" in result, f"MSAL client credentials: token acquired ({result.get('error_description', 'ok')[:80]})")
if "access_token" in result:
    c = claims(result["access_token"])
    check(c["aud"] == "https://graph.microsoft.com" and c["idtyp"] == "app", "the app token is for Graph, app-only")
    check(c.get("ver") == "1.0" and c.get("iss") == V1_ISSUER and c.get("appid") == AUTOMATION_APP and "azp" not in c,
          f"the app token is a v1.0 token as Azure AD issues Graph's (ver {c.get('ver')}, iss, appid)")
    r = requests.get(f"{URL}/beta/deviceManagement/managedDevices", headers={"Authorization": "Bearer " + result["access_token"]}, verify=CA)
    check(r.status_code == 200 and "value" in r.json(), "Graph accepts MSAL's token")
again = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
check(again.get("token_source") == "cache", "MSAL caches the app token")

wrong = msal.ConfidentialClientApplication(
    AUTOMATION_APP, client_credential="wrong", authority=f"{URL}/{CONTOSO}", verify=CA, instance_discovery=False
).acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
check(wrong.get("error") == "invalid_client" and 7000215 in wrong.get("error_codes", []), "MSAL reports AADSTS7000215 for a wrong secret")
lines = wrong.get("error_description", "").split("\r\n")
check(len(lines) == 4 and lines[1].startswith("Trace ID: ") and lines[2].startswith("Correlation ID: ")
      and wrong.get("trace_id") and wrong.get("correlation_id") and wrong["trace_id"] != wrong["correlation_id"],
      "Azure AD's error shape: trace and correlation ids on their own lines, distinct")

public = msal.PublicClientApplication(GRAPH_POWERSHELL, authority=f"{URL}/organizations", verify=CA, instance_discovery=False)
flow = public.initiate_device_flow(scopes=["https://graph.microsoft.com/.default"])
check("user_code" in flow and flow.get("verification_uri", "").startswith(URL) and flow.get("interval") == 1,
      "MSAL device flow started (the test cloud's interval: 1 s)")


def approve():
    time.sleep(1.5)
    requests.post(f"{URL}/_admin/devicecode", json={"userCode": flow["user_code"], "user": "admin@contoso.onmicrosoft.com"}, verify=CA)


threading.Thread(target=approve, daemon=True).start()
flow["expires_at"] = time.time() + 60
token = public.acquire_token_by_device_flow(flow)
check("access_token" in token, f"MSAL device flow: token after approval ({token.get('error', 'ok')})")
if "access_token" in token:
    u = claims(token["access_token"])
    check(u.get("ver") == "1.0" and u.get("iss") == V1_ISSUER and u.get("appid") == GRAPH_POWERSHELL and u.get("idtyp") == "user"
          and "DeviceManagementManagedDevices.Read.All" in u.get("scp", "").split(),
          "the user token is v1.0 (ver, iss, appid) with the scopes consented for Graph PowerShell")
    # MSAL asks for offline_access itself: the refresh token comes with it.
    check(bool(token.get("refresh_token")), "a refresh token, since MSAL asked for offline_access")
# A device code Azure AD does not know: MSAL stops polling on the documented error.
unknown = public.acquire_token_by_device_flow({"device_code": "DAQABAAEAAAD.unknown", "interval": 1, "expires_at": time.time() + 30})
check(unknown.get("error") == "bad_verification_code", f"an unknown device code is bad_verification_code ({unknown.get('error')})")
accounts = public.get_accounts()
check(len(accounts) == 1 and accounts[0]["username"] == "admin@contoso.onmicrosoft.com", "MSAL caches the signed-in account")
if accounts:
    silent = public.acquire_token_silent(["https://gateway.configmgr.manage.microsoft.com/.default"], account=accounts[0])
    check(bool(silent) and claims(silent["access_token"])["aud"] == "https://gateway.configmgr.manage.microsoft.com",
          "MSAL gets a gateway token silently with the refresh token")
print(f"# {count} tests, {failed} failed")
sys.exit(1 if failed else 0)
