"""Prepares a running tenant-attach-cloud for the interop tests: an imported app onboards a
hierarchy and uploads five devices (one named <script>alert(1)</script>). Prints JSON with the
hierarchy id and the site's gateway token. Usage: setup_cloud.py URL [CA_FILE]
"""
import json
import sys

import requests

URL = sys.argv[1]
VERIFY = sys.argv[2] if len(sys.argv) > 2 else True
TENANT = "c0ffee00-0000-4000-8000-000000000001"
APP, SECRET = "e0000000-0000-4000-8000-0000000000ab", "interop~site.secret.0001"
HIERARCHY = "5f0c1a6e-0000-4000-8000-0000000001a0"

seed = {"apps": [{"appId": APP, "tenantId": TENANT, "displayName": "Interop site", "secret": SECRET}]}
requests.post(f"{URL}/_admin/seed", json=seed, verify=VERIFY).raise_for_status()
token = requests.post(f"{URL}/{TENANT}/oauth2/v2.0/token", verify=VERIFY, data={
    "grant_type": "client_credentials", "client_id": APP, "client_secret": SECRET,
    "scope": "https://gateway.configmgr.manage.microsoft.com/.default"}).json()["access_token"]
site = {"Authorization": "Bearer " + token}
r = requests.post(f"{URL}/api/gateway/AccountOnboardingInfo", headers=site, verify=VERIFY, json={
    "hierarchyId": HIERARCHY, "siteCode": "PS1", "tenantId": TENANT, "appId": APP, "appIdUri": f"api://{TENANT}/interop"})
assert r.status_code in (201, 400), r.text
names = ["PC-ÅÄÖ-01", "<script>alert(1)</script>", "LAB-Göteborg-02", "SRV-DP-01", "KIOSK-03"]
devices = [{"smsId": f"GUID:{i:08X}-0000-0000-0000-000000000000", "name": n, "deviceOS": "Microsoft Windows NT Workstation 10.0",
            "deviceOSBuild": "10.0.22631.4460", "clientVersion": "5.00.9128.1000"} for i, n in enumerate(names)]
r = requests.post(f"{URL}/api/gateway/DevicePost", headers=site, verify=VERIFY, json={
    "hierarchyId": HIERARCHY, "syncId": "interop", "sequence": 0, "kind": "full", "final": True, "devices": devices})
r.raise_for_status()
print(json.dumps({"hierarchyId": HIERARCHY, "siteToken": "Bearer " + token}))
