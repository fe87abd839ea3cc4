#pragma once
// Why a placement group is not placed, as data: built once by the placement
// engine and carried unchanged to every surface (an error's Status, `berth
// place --json`, `berth plan` and `berth run` text, the control API, Python's
// exceptions). The text is rendered in one place (the placement layer's
// explain_text); the JSON is written by one writer (formats).

#include <string>
#include <vector>

#include "berth/resources.h"

namespace berth {

// What the group lacks, in one code a program can branch on. The first seven
// are INFEASIBLE (never fits the current nodes, even empty); the last four
// are PENDING (fits the nodes, not their free capacity now).
enum class ReasonCode {
  kNone,                     // placed (CREATED) or REMOVED: nothing to explain
  kNoNodes,                  // the cluster has no live node
  kBundleTooLarge,           // one bundle needs more of a resource than any node has
  kBundleFitsNoNode,         // each resource of a bundle is somewhere, never all on one node
  kStrictPackTooLarge,       // STRICT_PACK: the bundles together exceed every node
  kStrictSpreadTooFewNodes,  // STRICT_SPREAD: fewer usable nodes than bundles
  kClusterTooSmall,          // the bundles together need more than the whole cluster has
  kBundlesDoNotPack,         // enough in total, but no assignment of the bundles to nodes
  kNodesBusy,                // a bundle fits no node's free capacity now
  kStrictPackNodesBusy,      // STRICT_PACK: the nodes that could hold it are full now
  kStrictSpreadNodesBusy,    // STRICT_SPREAD: too few nodes with room now
  kFreeCapacityFragmented,   // each bundle fits alone, not all together, now
  kNoNodeMatchesLabels,      // no node has the labels a bundle's selector asks for
  kNoDomainFits,             // topology require: no single domain can hold the group
  kDomainsBusy,              // topology require: no single domain has room now
};
// The stable snake_case name: "none", "no_nodes", "bundle_too_large", ...,
// "free_capacity_fragmented", "no_node_matches_labels", "no_domain_fits",
// "domains_busy" (docs/control-api.md lists them).
const char* ReasonCodeName(ReasonCode code);

// Per node: kFitsNow, kFullNow (fits the node's totals, not its free
// capacity), kNeverFits, kUsedByGroup (the node holds another bundle of this
// STRICT_SPREAD group).
enum class NodeVerdict { kFitsNow, kFullNow, kNeverFits, kUsedByGroup };
// "fits_now", "full_now", "never_fits", "used_by_group"
const char* NodeVerdictName(NodeVerdict v);

struct NodeExplanation {
  std::string node;
  NodeVerdict verdict = NodeVerdict::kFitsNow;
  // For full_now and never_fits: the bundle checked (-1: the group's sum, for
  // STRICT_PACK), the first resource short, what it needs and what the node
  // has (total for never_fits, free for full_now).
  int bundle = -1;
  std::string resource;
  Quantity need;
  Quantity have;
};

struct Explanation {
  std::string group;  // the placement group's name
  ReasonCode reason_code = ReasonCode::kNone;
  // One line a person can act on: what is short, then "; " and the hint
  // (empty for a CREATED or REMOVED group).
  std::string reason;
  // What the person can do, or what unblocks a waiting group ("lower it, or
  // add a node with GPU 16 or more"); the reason ends with it.
  std::string hint;

  // The shortfall the reason names, where it names one. bundle: the bundle
  // (-1: the group as a whole). resource: "GPU", "CPU", "memory", ..., or
  // "nodes" (STRICT_SPREAD: distinct nodes); empty when no single resource is
  // short. need: how much; have: the most one node has (never fits) or has
  // free (busy), or the whole cluster's total (kClusterTooSmall); node: that
  // node, empty for the whole cluster.
  int bundle = -1;
  std::string node;
  std::string resource;
  Quantity need;
  Quantity have;

  std::vector<int> lost;          // RESCHEDULING: bundles lost with their nodes
  bool budget_exhausted = false;  // the search gave up: the verdict may be wrong

  int fits_now = 0;
  int full_now = 0;
  int never_fits = 0;
  std::vector<NodeExplanation> nodes;  // one per live node, in node order
};

}  // namespace berth
