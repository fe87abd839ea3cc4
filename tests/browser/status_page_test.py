"""The status page (GET / of berth run's control API) and the placement map in
a real browser: Debian's headless chromium, driven over its DevTools protocol
(tests/browser/cdp.py).

- Without the token, or with a wrong one, the page shows how to get one and
  no data (no worker id anywhere in it).
- With the URL of `berth status --web`, it shows every worker of the demo
  (examples/demo.yaml, run here with berth-demo-worker) with node, GPUs,
  ports, state, restarts and uptime, the roles' health and the map, asking
  nothing outside berth.
- A worker killed during the test turns to failed (or restarting) on the
  page within a second, without a reload, then ready again (its role
  restarts it), and the event is listed; a click shows a worker's log.
- While nothing changes, the page sends (almost) no requests: long polls.
- Screenshots of the page and of a 64-node plan map (`berth plan --html`)
  go to ARTIFACTS_DIR.

Usage: status_page_test.py PATH_TO_BERTH PATH_TO_DEMO_WORKER ARTIFACTS_DIR
Exit 77 (skipped) when chromium or python3-websocket is missing and
BERTH_REQUIRE_BROWSER is unset; with it set, that is a failure.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def skip_or_fail(why):
    if os.environ.get("BERTH_REQUIRE_BROWSER"):
        print("FAIL: %s (BERTH_REQUIRE_BROWSER is set)" % why, file=sys.stderr)
        sys.exit(1)
    print("SKIP: %s; scripts/install-deps.sh installs it" % why)
    sys.exit(77)


if len(sys.argv) != 4:
    print(__doc__, file=sys.stderr)
    sys.exit(2)
BERTH, WORKER, ARTIFACTS = (os.path.abspath(a) for a in sys.argv[1:])

try:
    sys.path.insert(0, HERE)
    import cdp
except ImportError as e:
    skip_or_fail("python3-websocket is not installed (%s)" % e)
if not os.access(cdp.CHROMIUM, os.X_OK):
    skip_or_fail("%s is not installed (Debian package chromium)" % cdp.CHROMIUM)

from cdp import wait_for  # noqa: E402

failures = []
passed = []
STARTED = time.monotonic()


def check(ok, what):
    print("%s [%5.1f s] %s" % ("ok  " if ok else "FAIL", time.monotonic() - STARTED, what),
          flush=True)
    (passed if ok else failures).append(what)


def api(url, token, path):
    req = urllib.request.Request(url + path, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


# The page's view of the workers table: id -> {state, restarts, ...}.
ROWS_JS = """(() => {
  const out = {};
  for (const tr of document.querySelectorAll('#workers tbody tr')) {
    const c = [...tr.cells].map((td) => td.textContent);
    out[tr.dataset.worker] = {role: c[1], node: c[2], gpus: c[3], ports: c[4], pid: c[5],
                              state: c[6], restarts: c[7], uptime: c[8]};
  }
  return out;
})()"""


def demo_experiment(tmp):
    """examples/demo.yaml with the worker's path, and rollout restarting on
    failure (so that a killed worker comes back and the run goes on)."""
    with open(os.path.join(ROOT, "examples/demo.yaml")) as f:
        text = f.read().replace("build/berth-demo-worker", WORKER)
    marker = "    placement: separate\n"
    assert marker in text, "examples/demo.yaml has no separate role"
    text = text.replace(marker, marker + "    on_failure: restart\n"
                        "    restart: {max_restarts: 3, window_s: 600, backoff_s: [0.2, 0.4]}\n", 1)
    path = os.path.join(tmp, "demo.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def no_token_pages(browser, url, worker_ids):
    for name, fragment, words in (("no token", "", "only with the run's token"),
                                  ("a wrong token", "#token=" + "0" * 64, "refused"),
                                  ("a malformed token", "#token=abc", "not 64 hex digits")):
        page = browser.new_page()
        page.navigate(url + fragment)
        text = wait_for("%s: the page says how to get the token" % name, 10,
                        lambda: page.eval("document.getElementById('auth').hidden ? '' : "
                                          "document.body.innerText"))
        check(words in text, "%s: the page says %r" % (name, words))
        shown = page.eval("document.body.innerText")
        check(not any(w in shown for w in worker_ids), "%s: no worker is shown" % name)
        check(page.eval("document.getElementById('view').hidden") is True,
              "%s: the status view stays hidden" % name)
        data = [u for u in page.requests if "/v1/" in u]
        if name == "no token":
            check(data == [], "no token: the page asks for no data (asked: %s)" % data)
        page.close()


def live_page(browser, url, token, tmp):
    status = api(url, token, "/v1/status")
    ids = [w["id"] for w in status["workers"]]
    page = browser.new_page()
    page.navigate(url + "#token=" + token)
    rows = wait_for("the page lists every worker, ready", 10, lambda: (
        lambda r: r if set(r) == set(ids) and all(v["state"] == "ready" for v in r.values())
        else None)(page.eval(ROWS_JS)))
    check(True, "with the token the page shows all %d workers: %s" % (len(ids), ", ".join(ids)))
    for w in status["workers"]:
        row = rows[w["id"]]
        ports = " ".join("%s=%s" % kv for kv in w["ports"].items())
        check(row["node"] == w["node"] and row["gpus"] == w["gpus"] and row["ports"] == ports and
              row["pid"] == str(w["pid"]) and row["uptime"].endswith("s"),
              "%s: node %s, GPUs %r, ports %s, pid %s, uptime %s as berth says" % (
                  w["id"], row["node"], row["gpus"], row["ports"], row["pid"], row["uptime"]))
    check(page.eval("location.hash") == "", "the token left the address bar")
    roles = page.eval("[...document.querySelectorAll('#roles tbody tr')].map("
                      "(tr) => tr.dataset.role + ':' + tr.cells[1].textContent)")
    check(sorted(roles) == ["actor:healthy", "ref:healthy", "rollout:healthy"],
          "roles with health: %s" % roles)
    boxes = wait_for("the placement map shows every worker", 10, lambda: (
        lambda b: b if b and set(b) >= set(ids) else None)(page.eval(
            "(() => { const d = document.getElementById('map').contentDocument;"
            " return d ? [...d.querySelectorAll('[data-worker]')].map("
            "(e) => e.getAttribute('data-worker')) : null; })()")))
    check(set(boxes) >= set(ids), "the map has a box for every worker")

    # The log of a worker, on a click.
    page.eval("document.querySelector('#workers tr[data-worker=\"actor/0\"]').click()")
    log = wait_for("actor/0's log is shown", 10, lambda: (
        lambda t: t if "berth-demo-worker actor/0" in t else None)(
            page.eval("document.getElementById('logbox').textContent")))
    check("serving" in log, "a click shows the worker's log: %r" % log.strip()[:80])

    # Quiet: nothing changes, so the long polls stay open. Measured over a
    # fixed window on purpose: this checks that nothing happens.
    before = len([u for u in page.requests if "/v1/" in u])
    time.sleep(2)
    page.eval("1")  # collects the events of the window
    quiet = len([u for u in page.requests if "/v1/" in u]) - before
    check(quiet <= 2, "no polling storm: %d request(s) in 2 s while nothing changed" % quiet)

    # A worker killed: failed or restarting on the page within a second.
    victim = next(w for w in status["workers"] if w["id"] == "rollout/1")
    killed_at = time.monotonic()
    os.kill(victim["pid"], signal.SIGKILL)
    row = wait_for("rollout/1 turns failed or restarting on the page", 5, lambda: (
        lambda r: r if r["state"] != "ready" or r["restarts"] != "0" else None)(
            page.eval(ROWS_JS)["rollout/1"]), interval_s=0.01)
    took = time.monotonic() - killed_at
    check(took < 1.0, "killed rollout/1 shows %s (restarts %s) after %.0f ms without a reload" % (
        row["state"], row["restarts"], took * 1000))
    again = wait_for("rollout/1 ready again after its restart", 30, lambda: (
        lambda r: r if r["state"] == "ready" and r["restarts"] == "1" else None)(
            page.eval(ROWS_JS)["rollout/1"]))
    check(again["pid"] != str(victim["pid"]), "rollout/1 restarted with a new pid %s" % again["pid"])
    events = wait_for("the failure is listed in the events", 10, lambda: page.eval(
        "[...document.querySelectorAll('#events li')].filter((li) => "
        "li.dataset.worker === 'rollout/1').map((li) => li.dataset.kind)"))
    check("failed" in events, "events list the failure of rollout/1: %s" % events)

    page.screenshot(os.path.join(ARTIFACTS, "status-page.png"))
    outside = [u for u in page.requests
               if not (u.startswith(url) or u.startswith("data:") or u.startswith("about:"))]
    check(outside == [], "the page loads nothing from outside berth (%s)" % outside[:3])
    check(page.eval("navigator.userAgent").find("Headless") >= 0, "ran in headless chromium")
    page.close()


def plan_map_64(browser, tmp):
    nodes = [{"name": "gpu-%02d" % i, "resources": {"CPU": 64, "GPU": 8, "memory": 512 * 2**30},
              "labels": {"address": "10.1.0.%d" % i}} for i in range(64)]
    with open(os.path.join(tmp, "c64.json"), "w") as f:
        json.dump({"nodes": nodes}, f)
    with open(os.path.join(tmp, "e64.yaml"), "w") as f:
        f.write("""name: big
roles:
  - name: train
    replicas: 32
    placement: shared
    scheduling_spec: {cpu: 4, gpu: 1, mem: 16, cmd: [train]}
  - name: ref
    replicas: 32
    scheduling_strategy: {type: colocation, target: train, fork: true}
    scheduling_spec: {cmd: [ref]}
  - name: gen
    replicas: 8
    placement: separate
    instance: {tp: 4}
    scheduling_spec: {cpu: 2, gpu: 1, mem: 8, cmd: [gen]}
  - name: judge
    replicas: 8
    placement: separate
    scheduling_spec: {cpu: 1, gpu: 0.5, cmd: [judge]}
""")
    html = os.path.join(ARTIFACTS, "plan-map-64.html")
    plan = subprocess.run([BERTH, "plan", os.path.join(tmp, "e64.yaml"), "--cluster",
                           os.path.join(tmp, "c64.json"), "--json", "--html", html],
                          capture_output=True, text=True, timeout=60)
    check(plan.returncode == 0, "berth plan --html on 64 nodes: exit %d %s" % (
        plan.returncode, plan.stderr[-300:]))
    workers = json.loads(plan.stdout)["workers"]
    page = browser.new_page()
    page.set_viewport(1600, 1250)
    page.navigate("file://" + html)
    shown = page.eval("new Set([...document.querySelectorAll('[data-worker]')].map("
                      "(e) => e.getAttribute('data-worker'))).size")
    check(shown == len(workers), "the 64-node map shows all %d workers (%s)" % (len(workers), shown))
    page.screenshot(os.path.join(ARTIFACTS, "plan-map-64.png"))
    page.close()


def main():
    os.makedirs(ARTIFACTS, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="berth-browser-")
    run_dir = os.path.join(tmp, "run")
    out = open(os.path.join(tmp, "berth.out"), "w")
    berth = subprocess.Popen([BERTH, "run", demo_experiment(tmp), "--run-dir", run_dir],
                             stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    browser = None
    try:
        web = wait_for("berth status --web prints the page's URL", 30, lambda: (
            lambda r: r if r.returncode == 0 else None)(subprocess.run(
                [BERTH, "status", "--web", run_dir], capture_output=True, text=True)))
        link = web.stdout.strip()
        check(link.startswith("http://127.0.0.1:") and "/#token=" in link,
              "berth status --web prints %s...#token=<64 hex>" % link.split("#")[0])
        url, token = link.split("#token=")
        url = url.rstrip("/")
        wait_for("every worker of the demo is ready", 60, lambda: (
            lambda s: s["phase"] == "running" and
            all(w["state"] == "ready" for w in s["workers"]))(api(url, token, "/v1/status")))
        ids = [w["id"] for w in api(url, token, "/v1/status")["workers"]]
        browser = cdp.Browser()
        no_token_pages(browser, url, ids)
        live_page(browser, url, token, tmp)
        plan_map_64(browser, tmp)
    finally:
        if browser:
            browser.close()
        # berth is this process's child: reaped here while berth down waits
        # for it (a zombie would look alive to berth down).
        down = subprocess.Popen([BERTH, "down", run_dir], stdout=subprocess.DEVNULL)
        try:
            berth.wait(timeout=60)
        except subprocess.TimeoutExpired:
            berth.kill()
            berth.wait(timeout=10)
            failures.append("berth run did not stop within 60 s of berth down")
        check(down.wait(timeout=90) == 0, "berth down stopped the run")
        out.close()
    if failures:
        with open(os.path.join(tmp, "berth.out")) as f:
            print("berth run's output:\n" + f.read()[-3000:], file=sys.stderr)
        print("kept for a look: " + tmp, file=sys.stderr)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (len(passed), len(failures)))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
