// The placement map as one HTML document: inline CSS, no script, no outside
// file, every string from the experiment or the cluster escaped. The table
// scrolls inside the page with its header and node column fixed, so that a
// large cluster stays readable.

#include <algorithm>
#include <cstdio>
#include <string>

#include "formats/plan_map.h"

namespace berth::formats {
namespace {

constexpr const char* kStyle = R"(
body{font:13px/1.35 system-ui,sans-serif;margin:16px;color:#222}
h1{font-size:18px;margin:0 0 4px}
h2{font-size:15px;margin:14px 0 6px}
.cluster{color:#555;margin:0 0 10px}
.legend span{display:inline-block;margin:0 10px 4px 0;padding:2px 6px;border-radius:3px;border:1px solid}
.notplaced{border:2px solid #d62728;background:#fff4f4;padding:8px 12px;margin:10px 0}
.notplaced pre{margin:6px 0 0;white-space:pre-wrap}
.warn{color:#8a6d00}
.scroll{max-height:80vh;overflow:auto;border:1px solid #ccc}
table.map{border-collapse:collapse}
table.map th,table.map td{border:1px solid #e2e2e2;padding:3px;vertical-align:top}
table.map thead th{position:sticky;top:0;background:#f4f4f4;z-index:2}
table.map tbody th{position:sticky;left:0;background:#fafafa;text-align:left;white-space:nowrap;z-index:1}
td.gpu{min-width:112px;max-width:180px}
td.free{color:#2a7a2a;text-align:center}
td.span{color:#2a7a2a}
tr.idle th,tr.idle td{background:#f7fbf7}
.bar{position:relative;width:110px;height:16px;background:#eee;border-radius:2px}
.bar div{position:absolute;left:0;top:0;bottom:0;background:#8fb3d9;border-radius:2px}
.bar span{position:relative;padding-left:4px;font-size:11px}
.b{border:2px solid;border-radius:4px;padding:2px;margin:1px 0}
.b.nl{border-left-style:dashed;border-top-left-radius:0;border-bottom-left-radius:0}
.b.nr{border-right-style:dashed;border-top-right-radius:0;border-bottom-right-radius:0}
.g{font-size:10px;color:#444}
.w{border-radius:3px;padding:2px 4px;margin:2px 0;font-size:12px;overflow:hidden;text-overflow:ellipsis}
.w.fork{border:1px dashed #333}
.w small{display:block;font-size:10px;color:#333}
.verdict{font-size:11px;color:#a33;white-space:nowrap}
small.addr{color:#777;font-weight:normal}
)";

std::string E(const std::string& s) { return EscapeMarkup(s); }

std::string Percent(double used, double total) {
  if (total <= 0) return "0";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", std::min(100.0, 100.0 * used / total));
  return buf;
}

std::string Bar(double used, double total, const std::string& text) {
  return R"(<div class="bar"><div style="width:)" + Percent(used, total) + R"(%"></div><span>)" +
         E(text) + "</span></div>";
}

void Chip(const MapChip& c, const MapRow& row, const MapCell& cell, std::string& out) {
  out += R"(<div class="w)";
  if (!c.fork_of.empty()) out += " fork";
  out += R"(" data-worker=")" + E(c.worker) + R"(" data-role=")" + E(c.role) + R"(" data-node=")" +
         E(row.first) + R"(" data-gpu=")" +
         (cell.device < 0 ? std::string("none") : std::to_string(cell.device)) + R"(")";
  if (!c.fork_of.empty()) out += R"( data-fork-of=")" + E(c.fork_of) + R"(")";
  out += R"( style="background:)" + std::string(MapFill(c.colour)) + R"(" title=")" + E(c.tooltip) +
         R"(">)" + E(c.worker);
  std::string small = c.detail;
  if (!c.share.empty()) small += (small.empty() ? "" : ", ") + c.share;
  if (!c.fork_of.empty())
    small += (small.empty() ? "" : ", ") + std::string("fork of ") + c.fork_of;
  if (!small.empty()) out += "<small>" + E(small) + "</small>";
  out += "</div>";
}

void Cell(const MapRow& row, const MapCell& cell, std::string& out) {
  out += R"(<td class="gpu" data-node=")" + E(row.first) + R"(" data-gpu=")" +
         (cell.device < 0 ? std::string("none") : std::to_string(cell.device)) + R"(">)";
  for (const MapBundle& b : cell.bundles) {
    out += R"(<div class="b)";
    if (!b.left) out += " nl";
    if (!b.right) out += " nr";
    out += R"(" data-group=")" + E(b.group) + R"(" data-bundle=")" + std::to_string(b.bundle) +
           R"(" style="border-color:)" + MapStroke(b.colour) + R"("><div class="g">)" + E(b.group) +
           " #" + std::to_string(b.bundle) + "</div>";
    for (const MapChip& c : b.chips) Chip(c, row, cell, out);
    out += "</div>";
  }
  if (!cell.free.empty()) out += R"(<div class="g">)" + E(cell.free) + "</div>";
  out += "</td>";
}

void Row(const MapRow& row, int columns, bool no_gpu_column, bool verdicts, std::string& out) {
  const bool collapsed = row.count > 1;
  out += "<tr";
  if (row.cells.empty()) out += R"( class="idle")";
  if (collapsed) {
    out += R"( data-nodes=")" + E(row.first) + ".." + E(row.last) + R"(" data-count=")" +
           std::to_string(row.count) + R"(")";
  } else {
    out += R"( data-node=")" + E(row.first) + R"(")";
  }
  out += "><th>" + E(row.first);
  if (collapsed) {
    out += " .. " + E(row.last) + R"( <small class="addr">()" + std::to_string(row.count) +
           " nodes)</small>";
  } else if (!row.address.empty() && row.address != row.first) {
    out += R"( <small class="addr">)" + E(row.address) + "</small>";
  }
  out += "</th><td>" + Bar(row.cpu_used, row.cpu_total, row.cpu_text) + "</td><td>" +
         Bar(row.mem_used, row.mem_total, row.mem_text) + "</td>";
  const int span = columns + (no_gpu_column ? 1 : 0);
  if (row.cells.empty()) {
    std::string text = row.gpus > 0 ? std::to_string(row.gpus) + " GPUs free" : "no GPUs, idle";
    if (collapsed) text += " on each";
    out += R"(<td class="span" colspan=")" + std::to_string(std::max(1, span)) + R"(">)" + text +
           "</td>";
  } else {
    int shown = 0;
    const MapCell* no_gpu = nullptr;
    for (const MapCell& c : row.cells) {
      if (c.device < 0) {
        no_gpu = &c;
        continue;
      }
      Cell(row, c, out);
      ++shown;
    }
    for (; shown < columns; ++shown) out += "<td></td>";
    if (no_gpu != nullptr) {
      Cell(row, *no_gpu, out);
    } else if (no_gpu_column) {
      out += "<td></td>";
    }
  }
  if (verdicts) out += R"(<td class="verdict">)" + E(row.verdict) + "</td>";
  out += "</tr>\n";
}

}  // namespace

std::string PlanHtml(const PlanMapInput& input) {
  const PlanMap map = BuildPlanMap(input);
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>berth plan: " +
      E(input.experiment) + "</title>\n<style>" + kStyle + "</style></head>\n<body>\n";
  out += "<h1>" + E(map.title) + "</h1>\n<p class=\"cluster\">" + E(map.cluster) + "</p>\n";
  if (!map.not_placed.empty()) {
    out += R"(<section class="notplaced" data-state=")" + E(map.not_placed_state) +
           R"("><h2>Not placed ()" + E(map.not_placed_state) + ")</h2><p>" + E(map.not_placed) +
           "</p>";
    if (!map.not_placed_detail.empty()) out += "<pre>" + E(map.not_placed_detail) + "</pre>";
    out +=
        "<p>berth places an experiment whole or not at all: nothing below is started until "
        "this fits. The nodes' column on the right says what each one lacks.</p></section>\n";
  }
  out += R"(<div class="legend">)";
  for (const MapRole& r : map.roles) {
    out += R"(<span style="background:)" + std::string(MapFill(r.colour)) +
           ";border-color:" + MapStroke(r.colour) + R"(">)" + E(r.name) + " ";
    out += r.alias_of.empty() ? "(" + std::to_string(r.workers) + " workers)"
                              : "(alias of " + E(r.alias_of) + ", no process)";
    out += "</span>";
  }
  out += "</div>\n";
  for (const std::string& w : map.warnings) out += R"(<p class="warn">warning: )" + E(w) + "</p>\n";

  bool no_gpu_column = false;
  bool verdicts = false;
  for (const MapRow& r : map.rows) {
    for (const MapCell& c : r.cells) no_gpu_column = no_gpu_column || c.device < 0;
    verdicts = verdicts || !r.verdict.empty();
  }
  out +=
      "<div class=\"scroll\"><table class=\"map\">\n<thead><tr><th>node</th><th>CPU</th>"
      "<th>memory</th>";
  for (int d = 0; d < map.max_gpus; ++d) out += "<th>GPU " + std::to_string(d) + "</th>";
  if (no_gpu_column) out += "<th>no GPU</th>";
  if (verdicts) out += "<th>for the group not placed</th>";
  out += "</tr></thead>\n<tbody>\n";
  for (const MapRow& r : map.rows) Row(r, map.max_gpus, no_gpu_column, verdicts, out);
  out += "</tbody></table></div>\n";
  out += R"(<p class="cluster">Boxes outlined in a role's colour are the bundles of a placement )"
         "group (dashed edge: the bundle goes on to the next GPU); coloured boxes inside are the "
         "workers, forks with a dashed border on their target's GPUs. Hover for ports and "
         "command.</p>\n</body></html>\n";
  return out;
}

}  // namespace berth::formats
