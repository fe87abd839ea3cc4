// The status page's document, its CSS and the headers it is served with.

#include "control/status_page.h"

#include <string>

namespace berth::control {
namespace {

// Status colours match the text table's words: ready green, starting amber,
// failed red, stopped grey.
constexpr const char* kStyle = R"(
:root{--ok:#2a7a2a;--warn:#9a6a00;--bad:#c62828;--off:#777;--line:#e2e2e2}
body{font:13px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{display:flex;gap:16px;align-items:baseline;flex-wrap:wrap;padding:10px 16px;
  background:#fff;border-bottom:1px solid #ddd;position:sticky;top:0;z-index:5}
header h1{font-size:17px;margin:0}
main{padding:8px 16px 24px}
section{background:#fff;border:1px solid #ddd;border-radius:4px;margin:10px 0;padding:8px 12px}
section h2{font-size:14px;margin:2px 0 8px}
.muted{color:#666}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;color:#fff;
  background:var(--off)}
.s-ready,.s-running,.s-healthy{background:var(--ok)}
.s-starting,.s-planned,.s-stopping,.s-degraded{background:var(--warn)}
.s-failed{background:var(--bad)}
.s-exited,.s-stopped,.s-done{background:var(--off)}
#live{font-size:12px}
#live.on::before{content:"\25CF ";color:var(--ok)}
#live.off::before{content:"\25CF ";color:var(--bad)}
table{border-collapse:collapse;min-width:50%}
th,td{border-bottom:1px solid var(--line);padding:3px 8px;text-align:left;white-space:nowrap}
th{background:#f4f4f4;font-weight:600;position:sticky;top:0}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.exit{white-space:normal;color:#555;max-width:420px}
#workers tbody tr{cursor:pointer}
#workers tbody tr:hover{background:#f2f7ff}
#workers tbody tr.sel{background:#e3eeff}
.scroll{max-height:420px;overflow:auto}
#auth{border:2px solid var(--bad);background:#fff4f4;padding:12px 16px;margin:16px;
  border-radius:4px;font-size:14px}
#auth code{background:#fff;padding:1px 4px;border:1px solid #ddd}
#problem{color:var(--bad);margin:6px 0}
#map{width:100%;height:460px;border:1px solid var(--line);resize:vertical;background:#fff}
#events li{font-family:ui-monospace,monospace;font-size:12px;margin:1px 0;list-style:none}
#events{margin:0;padding:0;max-height:260px;overflow:auto}
#logbox{background:#111;color:#ddd;padding:8px;max-height:420px;overflow:auto;
  font:12px/1.35 ui-monospace,monospace;white-space:pre-wrap;margin:6px 0 0}
button{font:inherit;padding:1px 8px}
[hidden]{display:none!important}
)";

constexpr const char* kBodyStart = R"(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>berth status</title>
<style>)";

// Every element the script fills is here, empty: the page carries no data.
constexpr const char* kBody = R"(</style></head>
<body>
<header>
  <h1 id="title">berth</h1>
  <span id="phase" class="badge">-</span>
  <span id="summary" class="muted"></span>
  <span id="live" class="off">not connected</span>
</header>
<div id="auth" hidden></div>
<main id="view" hidden>
  <div id="problem" hidden></div>
  <div id="message" class="muted"></div>
  <section><h2>Roles</h2>
    <table id="roles"><thead><tr><th>role</th><th>health</th><th>ready</th><th>workers</th>
      <th>restarts</th><th>nodes</th></tr></thead><tbody></tbody></table>
  </section>
  <section><h2>Workers <span class="muted">(click one for its log)</span></h2>
    <div class="scroll"><table id="workers"><thead><tr><th>worker</th><th>role</th><th>node</th>
      <th>GPUs</th><th>ports</th><th>pid</th><th>state</th><th>restarts</th><th>uptime</th>
      <th>exit</th></tr></thead><tbody></tbody></table></div>
  </section>
  <section id="logsec" hidden><h2>Log of <span id="logname"></span>
    <button id="logrefresh" type="button">refresh</button>
    <button id="logclose" type="button">close</button>
    <span id="logpath" class="muted"></span></h2>
    <pre id="logbox"></pre>
  </section>
  <section><h2>Placement map <span class="muted">(the plan; outlines show each worker's
    state)</span></h2>
    <iframe id="map" title="placement map" sandbox="allow-same-origin"></iframe>
  </section>
  <section><h2>Recent events</h2><ul id="events"></ul>
    <div id="noevents" class="muted">none yet</div></section>
</main>
<script>)";

constexpr const char* kBodyEnd = R"(</script>
</body></html>
)";

}  // namespace

std::string StatusPageHtml() {
  return std::string(kBodyStart) + kStyle + kBody + StatusPageScript() + kBodyEnd;
}

bool IsStatusPageRequest(const HttpRequest& request) {
  return request.method == "GET" && request.path == "/";
}

HttpReply StatusPageReply() {
  HttpReply reply;
  reply.status = 200;
  reply.content_type = "text/html; charset=utf-8";
  reply.body = StatusPageHtml();
  // The map is an iframe of the page's own (srcdoc), sandboxed without
  // scripts; everything else the page loads is from this server.
  reply.headers = {
      {"Content-Security-Policy",
       "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "img-src data:; connect-src 'self'; frame-src 'self'; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'"},
      {"Cache-Control", "no-store"},
      {"Referrer-Policy", "no-referrer"},
      {"X-Content-Type-Options", "nosniff"},
      {"X-Frame-Options", "DENY"},
  };
  return reply;
}

}  // namespace berth::control
