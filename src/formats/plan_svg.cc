// The placement map as one SVG image: the same model as the HTML map
// (plan_map.h), laid out on a fixed grid. Labels are clipped to their cell;
// the whole text is in each box's <title> (a tooltip in a browser).

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "formats/plan_map.h"

namespace berth::formats {
namespace {

constexpr int kPad = 10;
constexpr int kNameW = 210;
constexpr int kCpuW = 120;
constexpr int kMemW = 170;
constexpr int kCellW = 140;
constexpr int kVerdictW = 380;
constexpr int kHeaderH = 20;
constexpr int kChipH = 26;
constexpr int kBundleLabelH = 13;
constexpr int kIdleH = 22;
constexpr size_t kCellChars = 20;
constexpr size_t kMaxDetailLines = 40;

std::string E(const std::string& s) { return EscapeMarkup(s); }
std::string N(int v) { return std::to_string(v); }

std::string Text(int x, int y, const std::string& text, const std::string& attrs = "") {
  return R"(<text x=")" + N(x) + R"(" y=")" + N(y) + R"(")" + (attrs.empty() ? "" : " " + attrs) +
         ">" + E(text) + "</text>";
}

std::string Rect(int x, int y, int w, int h, const std::string& attrs) {
  return R"(<rect x=")" + N(x) + R"(" y=")" + N(y) + R"(" width=")" + N(w) + R"(" height=")" +
         N(h) + R"(" )" + attrs + "/>";
}

std::string Line(int x1, int y1, int x2, int y2, const std::string& stroke, bool dashed) {
  return R"(<line x1=")" + N(x1) + R"(" y1=")" + N(y1) + R"(" x2=")" + N(x2) + R"(" y2=")" + N(y2) +
         R"(" stroke=")" + stroke + R"(" stroke-width="2")" +
         (dashed ? R"( stroke-dasharray="3 3")" : "") + "/>";
}

std::string Bar(int x, int y, int w, double used, double total, const std::string& text) {
  const int filled = total > 0 ? static_cast<int>((w - 8) * std::min(1.0, used / total)) : 0;
  return Rect(x + 4, y + 4, w - 8, 14, R"(fill="#eeeeee")") +
         Rect(x + 4, y + 4, filled, 14, R"(fill="#8fb3d9")") +
         Text(x + 7, y + 15, text, R"(font-size="10")");
}

int BundleHeight(const MapBundle& b) {
  return kBundleLabelH + static_cast<int>(b.chips.size()) * (kChipH + 2) + 4;
}

int CellHeight(const MapCell& c) {
  int h = 4;
  for (const MapBundle& b : c.bundles) h += BundleHeight(b) + 3;
  return h + (c.free.empty() ? 0 : 12);
}

int RowHeight(const MapRow& r) {
  if (r.cells.empty()) return r.count > 1 ? kIdleH + 10 : kIdleH;
  int h = kIdleH + 8;
  for (const MapCell& c : r.cells) h = std::max(h, CellHeight(c));
  return h;
}

void Cell(const MapRow& row, const MapCell& cell, int x, int y, std::string& out) {
  const std::string gpu = cell.device < 0 ? "none" : N(cell.device);
  out += R"(<g data-node=")" + E(row.first) + R"(" data-gpu=")" + gpu + R"(">)";
  int top = y + 4;
  for (const MapBundle& b : cell.bundles) {
    const int h = BundleHeight(b);
    const int left = x + (b.left ? 3 : 0);
    const int right = x + kCellW - (b.right ? 3 : 0);
    const std::string stroke = MapStroke(b.colour);
    out += R"(<g data-group=")" + E(b.group) + R"(" data-bundle=")" + N(b.bundle) + R"(">)";
    out += Line(left, top, right, top, stroke, false) +
           Line(left, top + h, right, top + h, stroke, false) +
           Line(left, top, left, top + h, stroke, !b.left) +
           Line(right, top, right, top + h, stroke, !b.right);
    out += Text(x + 6, top + 11, ClipText(b.group + " #" + N(b.bundle), kCellChars),
                R"(font-size="9" fill="#444")");
    int cy = top + kBundleLabelH;
    for (const MapChip& c : b.chips) {
      out += R"(<g data-worker=")" + E(c.worker) + R"(" data-node=")" + E(row.first) +
             R"(" data-gpu=")" + gpu + R"("><title>)" + E(c.tooltip) + "</title>";
      std::string attrs = R"(rx="3" fill=")" + std::string(MapFill(c.colour)) + R"(")";
      if (!c.fork_of.empty()) attrs += R"( stroke="#333" stroke-dasharray="2 2")";
      out += Rect(x + 7, cy, kCellW - 14, kChipH, attrs);
      out += Text(x + 10, cy + 11, ClipText(c.worker, kCellChars), R"(font-size="11")");
      std::string small = c.detail;
      if (!c.share.empty()) small += (small.empty() ? "" : ", ") + c.share;
      if (!c.fork_of.empty()) small += (small.empty() ? "" : ", ") + std::string("fork");
      out += Text(x + 10, cy + 22, ClipText(small, kCellChars + 4), R"(font-size="9")");
      out += "</g>";
      cy += kChipH + 2;
    }
    out += "</g>";
    top += h + 3;
  }
  if (!cell.free.empty()) {
    out += Text(x + 6, top + 10, cell.free, R"(font-size="10" fill="#2a7a2a")");
  }
  out += "</g>";
}

}  // namespace

std::string PlanSvg(const PlanMapInput& input) {
  const PlanMap map = BuildPlanMap(input);
  bool no_gpu_column = false;
  bool verdicts = false;
  for (const MapRow& r : map.rows) {
    for (const MapCell& c : r.cells) no_gpu_column = no_gpu_column || c.device < 0;
    verdicts = verdicts || !r.verdict.empty();
  }
  const int gpu_x = kPad + kNameW + kCpuW + kMemW;
  const int columns = map.max_gpus + (no_gpu_column ? 1 : 0);
  const int verdict_x = gpu_x + columns * kCellW;
  const int width = std::max(verdict_x + (verdicts ? kVerdictW : 0) + kPad, 640);

  std::string body;
  int y = kPad + 14;
  body += Text(kPad, y, map.title, R"(font-size="16" font-weight="bold")");
  y += 18;
  body += Text(kPad, y, map.cluster, R"(font-size="12" fill="#555")");
  y += 10;
  int lx = kPad;
  for (const MapRole& r : map.roles) {
    const std::string label = r.name + (r.alias_of.empty() ? " (" + std::to_string(r.workers) + ")"
                                                           : " (alias of " + r.alias_of + ")");
    const int w = 16 + 7 * static_cast<int>(std::min<size_t>(label.size(), 40));
    if (lx + w > width - kPad) {
      lx = kPad;
      y += 22;
    }
    body += Rect(lx, y, w, 18,
                 R"(rx="3" fill=")" + std::string(MapFill(r.colour)) + R"(" stroke=")" +
                     MapStroke(r.colour) + R"(")") +
            Text(lx + 5, y + 13, ClipText(label, 40), R"(font-size="11")");
    lx += w + 8;
  }
  y += 22;
  if (!map.not_placed.empty()) {
    std::vector<std::string> lines = {"Not placed (" + map.not_placed_state +
                                      "): " + map.not_placed};
    size_t start = 0;
    const std::string& d = map.not_placed_detail;
    while (start < d.size() && lines.size() < kMaxDetailLines) {
      size_t end = d.find('\n', start);
      if (end == std::string::npos) end = d.size();
      lines.push_back(d.substr(start, end - start));
      start = end + 1;
    }
    body += R"(<g data-state=")" + E(map.not_placed_state) + R"(" class="notplaced">)";
    body += Rect(kPad, y, width - 2 * kPad, 8 + 14 * static_cast<int>(lines.size()),
                 R"(fill="#fff4f4" stroke="#d62728" stroke-width="2")");
    for (size_t i = 0; i < lines.size(); ++i) {
      body += Text(kPad + 6, y + 16 + 14 * static_cast<int>(i), lines[i],
                   i == 0 ? R"(font-size="12" fill="#a00")"
                          : R"(font-size="11" font-family="monospace" xml:space="preserve")");
    }
    body += "</g>";
    y += 14 + 14 * static_cast<int>(lines.size());
  }
  for (const std::string& w : map.warnings) {
    y += 14;
    body += Text(kPad, y, "warning: " + w, R"(font-size="11" fill="#8a6d00")");
  }
  y += 6;

  // The column headers, then one row per node (or run of idle nodes).
  body +=
      Rect(kPad, y, verdict_x + (verdicts ? kVerdictW : 0) - kPad, kHeaderH, R"(fill="#f4f4f4")");
  const std::string head = R"(font-size="11" font-weight="bold")";
  body += Text(kPad + 4, y + 14, "node", head) + Text(kPad + kNameW + 4, y + 14, "CPU", head) +
          Text(kPad + kNameW + kCpuW + 4, y + 14, "memory", head);
  for (int d = 0; d < map.max_gpus; ++d) {
    body += Text(gpu_x + d * kCellW + 4, y + 14, "GPU " + N(d), head);
  }
  if (no_gpu_column) body += Text(gpu_x + map.max_gpus * kCellW + 4, y + 14, "no GPU", head);
  if (verdicts) body += Text(verdict_x + 4, y + 14, "for the group not placed", head);
  y += kHeaderH;
  for (const MapRow& r : map.rows) {
    const int h = RowHeight(r);
    const bool collapsed = r.count > 1;
    body += collapsed ? R"(<g data-nodes=")" + E(r.first) + ".." + E(r.last) + R"(" data-count=")" +
                            std::to_string(r.count) + R"(">)"
                      : R"(<g data-row=")" + E(r.first) + R"(">)";
    body += Line(kPad, y + h, verdict_x + (verdicts ? kVerdictW : 0), y + h, "#e2e2e2", false);
    std::string name = collapsed ? r.first + " .. " + r.last : r.first;
    body += Text(kPad + 4, y + 15, ClipText(name, 30), R"(font-size="12")");
    if (collapsed) {
      body += Text(kPad + 4, y + 15 + 12, "(" + std::to_string(r.count) + " nodes)",
                   R"(font-size="9" fill="#777")");
    } else if (!r.address.empty() && r.address != r.first) {
      body += Text(kPad + 4, y + 27, ClipText(r.address, 34), R"(font-size="9" fill="#777")");
    }
    body += Bar(kPad + kNameW, y, kCpuW, r.cpu_used, r.cpu_total, r.cpu_text);
    body += Bar(kPad + kNameW + kCpuW, y, kMemW, r.mem_used, r.mem_total, r.mem_text);
    if (r.cells.empty()) {
      std::string text = r.gpus > 0 ? std::to_string(r.gpus) + " GPUs free" : "no GPUs, idle";
      if (collapsed) text += " on each";
      body += Text(gpu_x + 6, y + 15, text, R"(font-size="11" fill="#2a7a2a")");
    } else {
      for (const MapCell& c : r.cells) {
        const int col = c.device < 0 ? map.max_gpus : c.device;
        Cell(r, c, gpu_x + col * kCellW, y, body);
      }
    }
    if (verdicts) body += Text(verdict_x + 4, y + 15, r.verdict, R"(font-size="10" fill="#a33")");
    body += "</g>\n";
    y += h;
  }
  const int height = y + kPad;
  return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
         R"(width=")" +
         N(width) + R"(" height=")" + N(height) + R"(" viewBox="0 0 )" + N(width) + " " +
         N(height) + "\" font-family=\"sans-serif\">\n<title>berth plan: " + E(map.title) +
         "</title>\n" + Rect(0, 0, width, height, R"(fill="#ffffff")") + "\n" + body + "</svg>\n";
}

}  // namespace berth::formats
