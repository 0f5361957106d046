#!/usr/bin/env python3
"""Drives headless Chromium through scepd's admin console over the DevTools protocol.

Started by scepd-admin-console.sh with scepd running and one enrollment held pending.
Every wait is bounded; a script exception, an error in the console log or a CSP
violation fails the run. Prints PASS/FAIL lines; exits 1 when a check failed, 2 when the
browser could not be driven at all.

Needs only Debian's chromium and python3-websocket (websocket-client).
"""
import argparse
import base64
import json
import os
import subprocess
import sys
import time
import urllib.request

import websocket

START_TIMEOUT = 30
STEP_TIMEOUT = 20


class Failed(Exception):
    pass


class DevTools:
    """One page target: commands with bounded waits; events kept for inspection."""

    def __init__(self, ws_url):
        self.ws = websocket.create_connection(ws_url, timeout=STEP_TIMEOUT, suppress_origin=True)
        self.next_id = 0
        self.events = []
        # Events answered as they arrive, whatever is being waited for: method -> function.
        self.handlers = {}

    def close(self):
        self.ws.close()

    def _receive(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        self.ws.settimeout(left)
        try:
            message = json.loads(self.ws.recv())
        except websocket.WebSocketTimeoutException:
            return None
        handler = self.handlers.get(message.get("method"))
        if handler is not None:
            handler(message.get("params", {}))
        return message

    def send(self, method, **params):
        """A command whose answer is not waited for."""
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        return self.next_id

    def call(self, method, **params):
        wanted = self.send(method, **params)
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            message = self._receive(deadline)
            if message is None:
                raise Failed("no answer to %s within %d s" % (method, STEP_TIMEOUT))
            if message.get("id") == wanted:
                if "error" in message:
                    raise Failed("%s: %s" % (method, message["error"]))
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def pump(self, seconds):
        """Collects the events that arrive within `seconds`."""
        deadline = time.monotonic() + seconds
        while True:
            message = self._receive(deadline)
            if message is None:
                return
            if "method" in message:
                self.events.append(message)

    def wait_event(self, method, predicate=lambda params: True, timeout=STEP_TIMEOUT):
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for event in self.events[seen:]:
                if event["method"] == method and predicate(event.get("params", {})):
                    return event["params"]
            seen = len(self.events)
            message = self._receive(deadline)
            if message is None:
                raise Failed("no %s within %d s" % (method, timeout))
            if "method" in message:
                self.events.append(message)

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise Failed("evaluating %r: %s" % (expression, result["exceptionDetails"].get("text")))
        return result["result"].get("value")

    def wait_for(self, what, expression, timeout=STEP_TIMEOUT):
        """Polls `expression` until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise Failed("%s: not within %d s" % (what, timeout))
            self.pump(0.2)

    def click(self, what, selector_expression):
        """A real mouse click at the middle of the element the expression finds."""
        box = self.wait_for(what, """(() => {
            const node = %s;
            if (!node || node.disabled) return null;
            node.scrollIntoView({block: "center"});
            const r = node.getBoundingClientRect();
            const x = r.x + r.width / 2, y = r.y + r.height / 2;
            const hit = document.elementFromPoint(x, y);
            return r.width > 0 && r.height > 0 && (hit === node || node.contains(hit)) ? {x, y} : null;
        })()""" % selector_expression)
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"],
                      button="left", clickCount=1)

    def type_into(self, what, element_id, text):
        """Focuses the field and types `text` as keyboard input."""
        self.click(what, "document.getElementById(%s)" % json.dumps(element_id))
        self.call("Input.insertText", text=text)


def only_matches(text):
    """The certificate table holds rows, each matching the search for `text`."""
    return ("(rows => rows.length > 0 && rows.every(r => r.querySelector('td.subject')"
            ".textContent.includes(%s)))([...document.querySelectorAll('#cert-rows tr')])"
            % json.dumps(text))


def errors(devtools):
    """Script exceptions, console errors and CSP violations seen so far."""
    found = []
    for event in devtools.events:
        params = event.get("params", {})
        if event["method"] == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            found.append("exception: %s %s" % (details.get("text"),
                                                details.get("exception", {}).get("description", "")))
        elif event["method"] == "Log.entryAdded" and params["entry"].get("level") == "error":
            found.append("log: %s" % params["entry"].get("text"))
        elif event["method"] == "Runtime.consoleAPICalled" and params.get("type") == "error":
            found.append("console.error: %s" % params.get("args"))
    return found


def start_chromium(chromium, profile):
    log = open(os.path.join(profile, "chromium.log"), "wb")
    process = subprocess.Popen(
        [chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
         "--remote-debugging-port=0", "--user-data-dir=" + profile,
         "--no-first-run", "--no-default-browser-check", "--disable-extensions",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--password-store=basic", "--use-mock-keychain", "--window-size=1280,860",
         "about:blank"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    active = os.path.join(profile, "DevToolsActivePort")
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        if os.path.exists(active):
            lines = open(active).read().split("\n")
            if len(lines) >= 2 and lines[0].strip().isdigit():
                return process, int(lines[0])
        time.sleep(0.1)
    process.kill()
    process.wait(10)
    log.close()
    text = open(os.path.join(profile, "chromium.log"), errors="replace").read()
    raise Failed("chromium did not start (exit %s):\n%s" % (process.returncode, text[-3000:]))


def page_target(port):
    # The loopback DevTools endpoint, never through a proxy from the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        with opener.open("http://127.0.0.1:%d/json/list" % port, timeout=5) as answer:
            for target in json.load(answer):
                if target.get("type") == "page" and target.get("webSocketDebuggerUrl"):
                    return target["webSocketDebuggerUrl"]
        time.sleep(0.2)
    raise Failed("no page target")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--chromium", required=True)
    parser.add_argument("--profile", required=True, help="an empty user-data-dir")
    parser.add_argument("--url", required=True, help="the admin listener, http://HOST:PORT")
    parser.add_argument("--token", required=True)
    parser.add_argument("--basic", required=True, help="USER:PASSWORD for HTTP Basic")
    parser.add_argument("--subject", required=True, help="the subject of the held request")
    parser.add_argument("--reject", required=True, help="the subject of one to reject")
    parser.add_argument("--revoke", required=True, help="part of the subject of one to revoke")
    parser.add_argument("--markup", required=True, help="an end entity name holding markup")
    parser.add_argument("--screenshot", action="append", default=[])
    args = parser.parse_args()

    failures = 0

    def check(what, ok):
        nonlocal failures
        print(("PASS: " if ok else "FAIL: ") + what, flush=True)
        if not ok:
            failures += 1

    process = None
    devtools = None
    try:
        process, port = start_chromium(args.chromium, args.profile)
        print("chromium: DevTools on port %d" % port, flush=True)
        devtools = DevTools(page_target(port))
        for domain in ("Page", "Runtime", "Log", "Network"):
            devtools.call(domain + ".enable")

        page = args.url + "/admin/"
        devtools.call("Page.navigate", url=page)
        response = devtools.wait_event(
            "Network.responseReceived",
            lambda p: p.get("type") == "Document" and p["response"]["url"] == page)["response"]
        devtools.wait_event("Page.loadEventFired")
        headers = {name.lower(): value for name, value in response["headers"].items()}
        check("the page loads without credentials (200)", response["status"] == 200)
        check("... with its Content-Security-Policy",
              "script-src 'self'" in headers.get("content-security-policy", "") and
              "frame-ancestors 'none'" in headers.get("content-security-policy", ""))
        check("... and X-Frame-Options: DENY", headers.get("x-frame-options") == "DENY")

        devtools.wait_for("the login form", "!document.getElementById('login').hidden")
        devtools.type_into("the token field", "token", args.token)
        devtools.click("the Log in button", "document.getElementById('login-token')")
        subject = json.dumps(args.subject)
        row = ("[...document.querySelectorAll('#pending-rows tr')].find("
               "r => r.querySelector('td.subject').textContent === %s)" % subject)
        devtools.wait_for("the held request in the pending view", "!!(%s)" % row)
        check("after login the pending view lists the held request (%s)" % args.subject, True)
        issues = devtools.evaluate(row + ".querySelector('td.decided').textContent")
        check("... and what approval issues: " + issues, "end entity " in issues)
        check("the token is in sessionStorage, not in a cookie or the URL",
              devtools.evaluate("sessionStorage.getItem('scepd.admin.token') === %s && "
                                "document.cookie === '' && !location.href.includes(%s)"
                                % (json.dumps(args.token), json.dumps(args.token))))
        devtools.pump(0.5)
        shot = devtools.call("Page.captureScreenshot", format="png")
        image = base64.b64decode(shot["data"])
        for path in args.screenshot:
            with open(path, "wb") as out:
                out.write(image)
        check("screenshot of the pending view (%d bytes)" % len(image),
              image.startswith(b"\x89PNG"))

        devtools.click("the request's Approve button", row + ".querySelector('button.approve')")
        message = devtools.wait_for(
            "the approval's confirmation",
            "(t => t.includes('approved') ? t : '')(document.getElementById('status').textContent)")
        check("Approve: " + message, "certificate" in message)
        devtools.wait_for("the request leaving the pending view", "!(%s)" % row)

        other = ("[...document.querySelectorAll('#pending-rows tr')].find("
                 "r => r.querySelector('td.subject').textContent === %s)" % json.dumps(args.reject))
        devtools.click("Reject without a reason", other + ".querySelector('button.danger')")
        devtools.wait_for("the console asking for a reason",
                          "document.getElementById('status').textContent.includes('reason')")
        devtools.click("the reason field", other + ".querySelector('input')")
        devtools.call("Input.insertText", text="not in the inventory")
        devtools.click("the request's Reject button", other + ".querySelector('button.danger')")
        message = devtools.wait_for(
            "the rejection's confirmation",
            "(t => t.includes('rejected') ? t : '')(document.getElementById('status').textContent)")
        devtools.wait_for("the rejected request leaving the pending view", "!(%s)" % other)
        check("Reject with a reason: " + message, True)

        devtools.click("the Certificates tab", "document.querySelector('nav button[data-view=certificates]')")
        cn = args.subject.split(",")[0].split("=", 1)[1]
        devtools.type_into("the search field", "cert-query", cn)
        devtools.click("the Search button", "document.querySelector('#cert-search button[type=submit]')")
        devtools.wait_for("the search's answer", only_matches(cn))
        found = devtools.wait_for(
            "the issued certificate in the search",
            "(r => r ? r.querySelector('td.subject').textContent + ' ' + "
            "r.querySelector('td.state-valid').textContent : '')([...document.querySelectorAll("
            "'#cert-rows tr')].find(r => r.querySelector('td.subject').textContent.includes(%s)))"
            % json.dumps(cn))
        check("a search by subject shows the certificate: " + found, found.endswith(" valid"))

        devtools.evaluate("document.getElementById('cert-query').value = ''")
        devtools.type_into("the search field", "cert-query", args.revoke)
        devtools.click("the Search button", "document.querySelector('#cert-search button[type=submit]')")
        devtools.wait_for("the search's answer", only_matches(args.revoke))
        target = ("[...document.querySelectorAll('#cert-rows tr')].find(r => r.querySelector("
                  "'td.subject').textContent.includes(%s) && r.querySelector('td.state-valid'))"
                  % json.dumps(args.revoke))
        devtools.wait_for("the certificate to revoke", "!!(%s)" % target)
        # Choosing from the list as the keyboard does: focus it, then the option's value.
        devtools.evaluate("(s => { s.focus(); s.value = 'superseded'; s.dispatchEvent("
                          "new Event('change')); })(%s.querySelector('select'))" % target)
        devtools.click("the Revoke button", target + ".querySelector('button.danger')")
        message = devtools.wait_for(
            "the revocation's confirmation",
            "(t => t.includes('revoked') ? t : '')(document.getElementById('status').textContent)")
        check("Revoke with a reason: " + message, "CRL number" in message)
        revoked = devtools.wait_for(
            "the certificate shown revoked",
            "(r => r ? r.querySelector('td.state-revoked').textContent + ' ' + "
            "r.querySelector('td.actions').textContent : '')([...document.querySelectorAll("
            "'#cert-rows tr')].find(r => r.querySelector('td.subject').textContent.includes(%s)"
            " && r.querySelector('td.state-revoked')))" % json.dumps(args.revoke))
        check("... and listed as revoked: " + revoked, revoked.endswith("superseded"))

        devtools.click("the End entities tab", "document.querySelector('nav button[data-view=endentities]')")
        shown = devtools.wait_for(
            "the end entity named with markup",
            "[...document.querySelectorAll('#ee-rows td')].some(td => td.textContent === %s)"
            % json.dumps(args.markup))
        check("a stored name holding markup is shown as text",
              shown and devtools.evaluate(
                  "document.querySelectorAll('#ee-rows img').length === 0 && "
                  "window.pwned === undefined"))
        devtools.type_into("the user name field", "ee-username", "kiosk-new")
        devtools.type_into("the DN field", "ee-dn", "CN=kiosk-new,O=Console Test")
        devtools.click("the Add button", "document.querySelector('#ee-add button[type=submit]')")
        code = devtools.wait_for(
            "the generated code",
            "!document.getElementById('ee-secret').hidden && "
            "document.getElementById('ee-secret-code').textContent")
        check("Add an end entity: its generated code shown once (%d characters)" % len(code),
              len(code) == 20)
        devtools.wait_for("the new end entity in the list",
                          "[...document.querySelectorAll('#ee-rows td')].some("
                          "td => td.textContent === 'kiosk-new')")
        devtools.click("the dismiss button", "document.getElementById('ee-secret-done')")
        check("... and gone from the page once dismissed",
              devtools.evaluate("document.getElementById('ee-secret').hidden && "
                                "!document.body.textContent.includes(%s)" % json.dumps(code)))

        devtools.click("the Audit tab", "document.querySelector('nav button[data-view=audit]')")
        devtools.wait_for(
            "the approval in the audit view",
            "[...document.querySelectorAll('#audit-rows tr')].some("
            "r => r.textContent.includes('request_approve'))")
        check("the audit view shows the approval", True)

        devtools.click("the CAs tab", "document.querySelector('nav button[data-view=cas]')")
        devtools.wait_for("the CA in the CAs view",
                          "document.querySelectorAll('#ca-rows tr').length > 0")
        check("the CAs view lists the CA", True)

        # HTTP Basic: what a person types into the browser's prompt is given through the
        # Fetch domain, which is asked only when the browser found a Basic challenge.
        devtools.click("the Log out button", "document.getElementById('logout')")
        devtools.wait_for("the login form after logging out",
                          "!document.getElementById('login').hidden && "
                          "sessionStorage.getItem('scepd.admin.token') === null")
        user, password = args.basic.split(":", 1)
        challenges = []

        def paused(params):
            devtools.send("Fetch.continueRequest", requestId=params["requestId"])

        def auth_required(params):
            challenges.append(params["authChallenge"].get("scheme", "").lower())
            devtools.send("Fetch.continueWithAuth", requestId=params["requestId"],
                          authChallengeResponse={"response": "ProvideCredentials",
                                                 "username": user, "password": password})

        devtools.handlers["Fetch.requestPaused"] = paused
        devtools.handlers["Fetch.authRequired"] = auth_required
        devtools.call("Fetch.enable", handleAuthRequests=True,
                      patterns=[{"urlPattern": "*/admin/api/*"}])
        devtools.click("the Basic login button", "document.getElementById('login-basic')")
        deadline = time.monotonic() + STEP_TIMEOUT
        while not challenges and time.monotonic() < deadline:
            devtools.pump(0.2)
        check("the browser finds the Basic challenge: %s" % challenges, challenges[:1] == ["basic"])
        devtools.click("the Audit tab", "document.querySelector('nav button[data-view=audit]')")
        devtools.wait_for(
            "a Basic login in the audit view",
            "[...document.querySelectorAll('#audit-rows tr')].some("
            "r => r.textContent.includes('admin_login') && r.textContent.includes('scheme basic'))")
        check("with the browser's prompt (HTTP Basic) the console logs in", True)
        devtools.call("Fetch.disable")

        devtools.pump(1.0)
        found_errors = errors(devtools)
        for text in found_errors:
            print("  " + text, flush=True)
        check("no script error, console error or CSP violation", not found_errors)

        # The control: inline script, as an injection would add it, is refused by the CSP,
        # and the refusal is seen as an error (so the check above can see one).
        devtools.evaluate("(() => { const s = document.createElement('script'); "
                          "s.textContent = 'window.injected = 1'; document.body.append(s); })()")
        devtools.pump(1.0)
        refused = [e for e in errors(devtools)[len(found_errors):] if "Content Security Policy" in e]
        check("an inline script is refused by the CSP, and seen",
              bool(refused) and devtools.evaluate("window.injected === undefined"))
    except Failed as failure:
        print("FAIL: %s" % failure, flush=True)
        if devtools is not None:
            for text in errors(devtools):
                print("  " + text, flush=True)
            try:
                print("  the page said: %r" % devtools.evaluate(
                    "document.getElementById('status').textContent + ' | ' + document.body.innerText.slice(0, 600)"), flush=True)
            except (Failed, OSError, websocket.WebSocketException):
                pass
        failures += 1
    except (OSError, websocket.WebSocketException) as failure:
        print("FAIL: driving chromium: %s" % failure, flush=True)
        return 2
    finally:
        if devtools is not None:
            try:
                devtools.call("Browser.close")
            except (Failed, OSError, websocket.WebSocketException):
                pass
            devtools.close()
        if process is not None:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
