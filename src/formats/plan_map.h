#pragma once
// `berth plan --html FILE` / `--svg FILE`: the placement map, a picture of
// the plan for people. Nodes are rows, GPUs columns; each GPU cell holds the
// bundles placed on it (outlined in their group's colour) and in them the
// workers (coloured by role, with id, rank or instance, GPU share; forks sit
// on their target's GPUs). A node's CPU and memory use are bars. Idle nodes
// in a row with the same resources collapse into one line, so that a
// 1,000-node cluster stays a page. A plan that does not fit lists the group
// that is not placed and its explanation, each node marked with its verdict.
//
// Both renderings come from one model (PlanMap), built here; the HTML and
// SVG writers only lay it out. Every string that comes from the experiment
// or the cluster is escaped; the output needs no script and no outside file.
//
// Machine-readable hooks (tests/cli/plan_html_test.sh reads them): every
// worker's box on a GPU carries data-worker, data-node and data-gpu (one box
// per GPU it uses), a worker without GPUs data-gpu="none"; collapsed rows
// carry data-nodes="FIRST..LAST" and data-count.

#include <cstddef>
#include <string>
#include <vector>

#include "berth/placement.h"
#include "berth/plan.h"
#include "berth/status.h"

namespace berth::formats {

// What the map is drawn from. `not_placed`: the error of a plan that does not
// fit (kInfeasible / kUnavailable, with the engine's Explanation when it has
// one), or null; the plan is then what was placed (berth plans all or
// nothing, so usually empty).
struct PlanMapInput {
  std::string experiment;
  std::string cluster;  // one line describing the cluster
  const Plan* plan = nullptr;
  const std::vector<NodeSpec>* nodes = nullptr;
  const Status* not_placed = nullptr;
};

// One worker on one GPU (or on no GPU).
struct MapChip {
  std::string worker;  // its id
  std::string role;
  size_t colour = 0;   // index into the palette, by role
  std::string detail;  // "rank 0/2", "inst 1 tp2 pp1", "inst 0 node 1/2"
  std::string share;   // "0.5 GPU" when below one device, else empty
  std::string fork_of;
  std::string tooltip;  // group, bundle, ports, argv: for the title
};

// One bundle's part of one cell: outlined in its group's colour; `left` and
// `right` say where the outline closes (the bundle's first and last device),
// so that a bundle over several GPUs reads as one box.
struct MapBundle {
  std::string group;
  int bundle = 0;
  size_t colour = 0;  // of the group's role
  bool left = true;
  bool right = true;
  std::vector<MapChip> chips;
};

struct MapCell {
  int device = -1;   // -1: the node's work without GPUs
  std::string free;  // "free", "0.5 free" or "" when full
  std::vector<MapBundle> bundles;
};

struct MapRow {
  std::string first;  // node name; a collapsed row: the first and last
  std::string last;
  size_t count = 1;  // nodes in the row
  std::string address;
  int gpus = 0;  // devices per node
  double cpu_used = 0, cpu_total = 0;
  double mem_used = 0, mem_total = 0;  // bytes
  std::string cpu_text;                // "3 / 8"
  std::string mem_text;                // "3 GiB / 16 GiB"
  std::string verdict;  // for the group not placed: "never_fits: bundle 0: GPU needs 16, has 8"
  // One per device, then the no-GPU cell (device -1) when the node has work
  // without GPUs; empty for an idle node (drawn as one span).
  std::vector<MapCell> cells;
};

struct MapRole {
  std::string name;
  size_t colour = 0;
  size_t workers = 0;
  std::string alias_of;  // colocation with fork: false
};

struct PlanMap {
  std::string title;    // "experiment demo: 6 workers in 3 groups"
  std::string cluster;  // the description
  std::vector<MapRole> roles;
  std::vector<MapRow> rows;
  int max_gpus = 0;
  size_t workers = 0;
  std::string not_placed;         // the error's message; empty when the plan fits
  std::string not_placed_state;   // "INFEASIBLE" or "PENDING"
  std::string not_placed_detail;  // the engine's per-node lines
  std::vector<std::string> warnings;
};

PlanMap BuildPlanMap(const PlanMapInput& input);

// Fill and outline colours of palette entry `i` (it wraps).
const char* MapFill(size_t i);
const char* MapStroke(size_t i);

// `s` for HTML or XML text and attribute values: & < > " ' escaped, control
// characters and bytes that are not UTF-8 replaced by U+FFFD (XML 1.0
// refuses them even as references).
std::string EscapeMarkup(const std::string& s);

// At most `max` characters (code points) of `s`, "..." ending a cut one;
// for labels in fixed-width cells (the whole text goes in the title).
std::string ClipText(const std::string& s, size_t max);

// The two renderings: a whole HTML document (inline CSS, no script) and a
// whole SVG document. Deterministic; size linear in workers + rows.
std::string PlanHtml(const PlanMapInput& input);
std::string PlanSvg(const PlanMapInput& input);

}  // namespace berth::formats
