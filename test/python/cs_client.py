#!/usr/bin/python3
"""Drives a running Atoll through Debian's real python3-cs client (and requests for login).

Usage: cs_client.py ENDPOINT  (admin/password on domain ROOT must work)
Exits non-zero with a message on the first thing that is not as CloudStack would answer.
"""
import sys
import time
import uuid

import requests
from cs import CloudStack, CloudStackApiException, CloudStackException

endpoint = sys.argv[1]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)
    else:
        print("ok:", what)


# 1. Log in with a session (the web UI's way): POST login, then JSESSIONID cookie + sessionkey.
s = requests.Session()
r = s.post(endpoint, data={"command": "login", "username": "admin", "password": "password",
                           "domain": "/", "response": "json"})
check(r.status_code == 200, "login answers 200 (got %d %s)" % (r.status_code, r.text[:200]))
login = r.json()["loginresponse"]
check("JSESSIONID" in s.cookies, "login sets JSESSIONID")
sessionkey = login["sessionkey"]

r = s.get(endpoint, params={"command": "login", "username": "admin", "password": "password", "response": "json"})
check(r.status_code == 405, "login by GET is refused (got %d)" % r.status_code)

bad = requests.post(endpoint, data={"command": "login", "username": "admin", "password": "nope", "response": "json"})
check(bad.status_code == 401, "a wrong password answers 401 (got %d)" % bad.status_code)

# A session call needs the sessionkey, as a parameter or (CloudStack's CookieOrParameter) the
# sessionkey cookie; the JSESSIONID cookie alone is refused.
only_session = {"JSESSIONID": s.cookies["JSESSIONID"]}
r = requests.get(endpoint, params={"command": "listDomains", "response": "json"}, cookies=only_session)
check(r.status_code == 401, "session call without sessionkey answers 401 (got %d)" % r.status_code)
r = requests.get(endpoint, params={"command": "listDomains", "response": "json", "sessionkey": sessionkey},
                 cookies=only_session)
check(r.status_code == 200, "session call with the sessionkey parameter answers 200 (got %d)" % r.status_code)
r = requests.get(endpoint, params={"command": "listDomains", "response": "json", "sessionkey": "wrong"},
                 cookies=only_session)
check(r.status_code == 401, "a wrong sessionkey answers 401 (got %d)" % r.status_code)

# 2. Create a tenant account and register API keys for it and for the admin, over the session.
name = "tenant" + uuid.uuid4().hex[:8]
r = s.post(endpoint, data={"command": "createAccount", "accounttype": "0", "username": name, "account": name,
                           "password": "pw-" + name, "firstname": "Ten", "lastname": "Ant",
                           "email": name + "@example.org", "sessionkey": sessionkey, "response": "json"})
check(r.status_code == 200, "createAccount over the session (got %d %s)" % (r.status_code, r.text[:300]))
acct = r.json()["createaccountresponse"]["account"]
tenant_user = acct["user"][0]["id"]

def keys_for(user_id):
    r = s.post(endpoint, data={"command": "registerUserKeys", "id": user_id, "sessionkey": sessionkey,
                               "response": "json"})
    check(r.status_code == 200, "registerUserKeys (got %d %s)" % (r.status_code, r.text[:200]))
    k = r.json()["registeruserkeysresponse"]["userkeys"]
    return k["apikey"], k["secretkey"]

admin_key, admin_secret = keys_for(login["userid"])
tenant_key, tenant_secret = keys_for(tenant_user)

# 3. Signed calls, GET and POST, through the real cs client.
for method in ("get", "post"):
    admin = CloudStack(endpoint=endpoint, key=admin_key, secret=admin_secret, method=method)
    doms = admin.listDomains(listall=True)
    check(doms["count"] >= 1 and any(d["path"] == "ROOT" for d in doms["domain"]),
          "%s: signed listDomains sees ROOT" % method)
    dname = "d-%s-%s é*~" % (method, uuid.uuid4().hex[:6])
    d = admin.createDomain(name=dname)["domain"]
    check(d["name"] == dname and d["path"] == "ROOT/" + dname, "%s: createDomain with a name needing encoding" % method)
    paged = admin.listDomains(listall=True, fetch_list=True)
    check(any(x["id"] == d["id"] for x in paged), "%s: paged listDomains (page/pagesize) finds it" % method)

    # Async: deleteDomain answers a jobid; queryAsyncJobResult reports the outcome.
    job = admin.deleteDomain(id=d["id"])
    check("jobid" in job, "%s: deleteDomain answers a jobid" % method)
    deadline = time.time() + 30
    while True:
        res = admin.queryAsyncJobResult(jobid=job["jobid"])
        if res["jobstatus"] != 0 or time.time() > deadline:
            break
        time.sleep(0.2)
    check(res["jobstatus"] == 1 and res["jobresultcode"] == 0 and res["jobresult"].get("success") is True,
          "%s: queryAsyncJobResult reports success: %s" % (method, res))
    # The client's own poller (fetch_result=True, as the cs CLI does).
    d2 = admin.createDomain(name="f-" + uuid.uuid4().hex[:6])["domain"]
    out = admin.deleteDomain(id=d2["id"], fetch_result=True)
    check(out.get("success") is True, "%s: cs fetch_result polls the job to its result" % method)

admin = CloudStack(endpoint=endpoint, key=admin_key, secret=admin_secret)
tenant = CloudStack(endpoint=endpoint, key=tenant_key, secret=tenant_secret, method="post")

# 4. Errors as CloudStack answers them.
def api_error(fn, **kw):
    try:
        fn(**kw)
    except CloudStackApiException as e:
        return e.error
    except CloudStackException as e:
        return {"errorcode": getattr(e.response, "status_code", None), "errortext": str(e)}
    return None

e = api_error(admin.createDomain)
check(e and e["errorcode"] == 431 and "name" in e["errortext"], "missing parameter answers 431 naming it: %s" % e)
e = api_error(admin.listDomains, id="not-a-uuid")
check(e and e["errorcode"] == 431 and "id" in e["errortext"], "malformed id answers 431: %s" % e)
e = api_error(admin.noSuchCommand)
check(e and e["errorcode"] == 432, "unknown command answers 432: %s" % e)
wrong = CloudStack(endpoint=endpoint, key=admin_key, secret=admin_secret + "x")
e = api_error(wrong.listDomains)
check(e and e["errorcode"] == 401, "a bad signature answers 401: %s" % e)
e = api_error(admin.listDomains, expires="2000-01-01T00:00:00+0000", signatureVersion="3")
check(e and e["errorcode"] == 401, "an expired request answers 401: %s" % e)

# 5. The tenant sees only its own: its domain, its account; admin commands are not there.
tdoms = tenant.listDomains(listall=True)
check(tdoms["count"] == 1 and tdoms["domain"][0]["path"] == "ROOT", "tenant sees only its own domain")
taccts = tenant.listAccounts(listall=True)
check(taccts["count"] == 1 and taccts["account"][0]["name"] == name, "tenant sees only its own account")
e = api_error(tenant.createDomain, name="nope")
check(e and e["errorcode"] == 432, "createDomain is not available to a tenant: %s" % e)

# 6. Logout ends the session.
r = s.post(endpoint, data={"command": "logout", "sessionkey": sessionkey, "response": "json"})
check(r.status_code == 200, "logout")
r = s.get(endpoint, params={"command": "listDomains", "sessionkey": sessionkey, "response": "json"})
check(r.status_code == 401, "after logout the session is refused (got %d)" % r.status_code)

if failures:
    print("%d check(s) failed" % len(failures), file=sys.stderr)
    sys.exit(1)
print("all python3-cs checks passed")
