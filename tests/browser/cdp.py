"""A small client of Chromium's DevTools protocol, for the browser tests.

Starts Debian's headless chromium (/usr/bin/chromium) on a port it picks
itself, with a profile of its own, and drives pages over the browser's one
websocket (python3-websocket), each page a flattened session. Nothing is
downloaded: the browser is the system's. Every wait has a deadline.
"""

import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import websocket  # python3-websocket (Debian)

CHROMIUM = "/usr/bin/chromium"


class CdpError(Exception):
    pass


def wait_for(what, deadline_s, probe, interval_s=0.02):
    """probe() until it returns something true, at most deadline_s seconds;
    returns it, or raises saying what did not happen."""
    end = time.monotonic() + deadline_s
    last = None
    while True:
        try:
            last = probe()
        except CdpError:
            raise
        except Exception as e:  # a probe that fails now may pass later
            last = e
        if last and not isinstance(last, Exception):
            return last
        if time.monotonic() >= end:
            raise AssertionError("not within %.1f s: %s (last: %r)" % (deadline_s, what, last))
        time.sleep(interval_s)


class Browser:
    def __init__(self, width=1400, height=1000):
        self.profile = tempfile.mkdtemp(prefix="berth-chromium-")
        args = [CHROMIUM, "--headless=new", "--remote-debugging-port=0",
                "--user-data-dir=" + self.profile, "--no-first-run",
                "--no-default-browser-check", "--disable-gpu", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--metrics-recording-only", "--mute-audio",
                "--hide-scrollbars", "--window-size=%d,%d" % (width, height)]
        if os.geteuid() == 0:
            args.append("--no-sandbox")  # chromium refuses root without it
        args.append("about:blank")
        self.log = open(os.path.join(self.profile, "chromium.log"), "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        port_file = os.path.join(self.profile, "DevToolsActivePort")

        def endpoint():
            if self.proc.poll() is not None:
                raise CdpError("chromium exited with %s: %s" % (self.proc.returncode,
                                                                self.log_tail()))
            with open(port_file) as f:
                lines = f.read().split("\n")
            return lines if len(lines) >= 2 and lines[1] else None

        port, path = wait_for("chromium writes DevToolsActivePort", 30, endpoint)[:2]
        self.ws = websocket.create_connection("ws://127.0.0.1:%s%s" % (port, path), timeout=30,
                                              suppress_origin=True)
        self.ids = itertools.count(1)
        self.pending_events = []

    def log_tail(self):
        try:
            with open(os.path.join(self.profile, "chromium.log")) as f:
                return f.read()[-2000:]
        except OSError:
            return "(no log)"

    def call(self, method, params=None, session=None, timeout_s=30):
        mid = next(self.ids)
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.ws.send(json.dumps(msg))
        end = time.monotonic() + timeout_s
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise CdpError("%s: no answer within %d s" % (method, timeout_s))
            self.ws.settimeout(left)
            reply = json.loads(self.ws.recv())
            if reply.get("id") == mid:
                if "error" in reply:
                    raise CdpError("%s: %s" % (method, reply["error"]))
                return reply.get("result", {})
            if "method" in reply:
                self.pending_events.append(reply)

    def take_events(self):
        events, self.pending_events = self.pending_events, []
        return events

    def new_page(self):
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        return Page(self, target, session["sessionId"])

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    def __init__(self, browser, target, session):
        self.browser, self.target, self.session = browser, target, session
        self.requests = []  # URLs the page asked for, in order (Network.requestWillBeSent)
        self.call("Page.enable")
        self.call("Network.enable")
        self.call("Runtime.enable")

    def call(self, method, params=None, timeout_s=30):
        result = self.browser.call(method, params, self.session, timeout_s)
        self._note_events()
        return result

    def _note_events(self):
        keep = []
        for e in self.browser.take_events():
            if e.get("sessionId") != self.session:
                keep.append(e)
            elif e["method"] == "Network.requestWillBeSent":
                self.requests.append(e["params"]["request"]["url"])
            elif e["method"] == "Runtime.exceptionThrown":
                details = e["params"]["exceptionDetails"]
                raise CdpError("the page threw: %s" % json.dumps(details)[:800])
        self.browser.pending_events.extend(keep)

    def navigate(self, url):
        self.call("Page.navigate", {"url": url})
        wait_for("the page %s loads" % url, 20,
                 lambda: self.eval("document.readyState") == "complete")

    def eval(self, expression, await_promise=False):
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                           "awaitPromise": await_promise})
        if "exceptionDetails" in r:
            raise CdpError("%s: %s" % (expression[:80], r["exceptionDetails"].get("text")))
        return r["result"].get("value")

    def set_viewport(self, width, height):
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def screenshot(self, path, full_page=True):
        params = {"format": "png", "captureBeyondViewport": full_page}
        if full_page:
            metrics = self.call("Page.getLayoutMetrics")
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": size["width"],
                              "height": min(size["height"], 6000), "scale": 1}
        data = self.call("Page.captureScreenshot", params)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        self.browser.call("Target.closeTarget", {"targetId": self.target})
