// The placement map (berth plan --html / --svg): escaping, every worker on
// exactly its node and GPUs, forks on their target's GPUs, GPU shares, a plan
// that does not fit, and a 1,000-node cluster in bounded size and time.

#include "formats/plan_map.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "roles/plan_test_util.h"

namespace berth::formats {
namespace {

using roles::testutil::Contains;
using roles::testutil::GpuNodes;
using roles::testutil::MustPlan;
using roles::testutil::PlanYaml;

constexpr const char* kDemo = R"(
name: demo
roles:
  - {name: actor, replicas: 2, placement: shared, scheduling_spec: {cpu: 1, gpu: 1, mem: 1, cmd: [x]}}
  - {name: rollout, replicas: 2, placement: separate, instance: {tp: 2, pp: 1},
     scheduling_spec: {cpu: 0.5, gpu: 1, mem: 0.5, cmd: [x]}}
  - {name: ref, replicas: 2, scheduling_strategy: {type: colocation, target: actor, fork: true},
     scheduling_spec: {cpu: 0.5, mem: 0.5, cmd: [x]}}
  - {name: cpu, scheduling_spec: {cpu: 1, cmd: [x]}}
)";

// (worker, node, gpu) for every worker box in a rendering: the hooks the
// integration test reads, here read with a regex (the attributes are written
// in this order).
std::multiset<std::string> Boxes(const std::string& doc) {
  static const std::regex box(
      R"re(data-worker="([^"]*)"[^>]*?data-node="([^"]*)" data-gpu="([^"]*)")re");
  std::multiset<std::string> out;
  for (auto it = std::sregex_iterator(doc.begin(), doc.end(), box); it != std::sregex_iterator();
       ++it) {
    out.insert((*it)[1].str() + "@" + (*it)[2].str() + ":" + (*it)[3].str());
  }
  return out;
}

// What the plan says the boxes must be: one per GPU a worker uses, or one
// "none" for a worker without GPUs.
std::multiset<std::string> Expected(const Plan& plan) {
  std::multiset<std::string> out;
  for (const WorkerPlan& w : plan.workers) {
    if (w.gpus.empty()) out.insert(w.id + "@" + w.node + ":none");
    for (const GpuShare& g : w.gpus)
      out.insert(w.id + "@" + w.node + ":" + std::to_string(g.device));
  }
  return out;
}

PlanMapInput Input(const Plan& plan, const std::vector<NodeSpec>& nodes) {
  return {"demo", "test cluster", &plan, &nodes, nullptr};
}

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

TEST(PlanMapTest, EscapesMarkupControlBytesAndBadUtf8) {
  EXPECT_EQ(EscapeMarkup("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
  EXPECT_EQ(EscapeMarkup("a\tb\nc"), "a\tb\nc");
  EXPECT_EQ(EscapeMarkup(std::string("a\x01\x7f", 3)), "a\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(EscapeMarkup("gr\xC3\xBC\xC3\x9F \xE2\x9C\x93 \xF0\x9F\x9A\x80"),
            "gr\xC3\xBC\xC3\x9F \xE2\x9C\x93 \xF0\x9F\x9A\x80");  // valid UTF-8 stays
  // A lone continuation byte, an overlong '/', a surrogate, a cut sequence, U+FFFF.
  EXPECT_EQ(EscapeMarkup("\x80"), "\xEF\xBF\xBD");
  EXPECT_EQ(EscapeMarkup("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(EscapeMarkup("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(EscapeMarkup("\xE2\x9C"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(EscapeMarkup("\xEF\xBF\xBF"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(PlanMapTest, ClipsByCharactersNotBytes) {
  EXPECT_EQ(ClipText("abc", 3), "abc");
  EXPECT_EQ(ClipText("abcd", 3), "abc...");
  EXPECT_EQ(ClipText("\xC3\xBC\xC3\xBC\xC3\xBC", 2), "\xC3\xBC\xC3\xBC...");
}

TEST(PlanMapTest, StringsFromTheExperimentAndClusterAreEscaped) {
  std::vector<NodeSpec> nodes = GpuNodes(1, 2);
  nodes[0].name = "<b>n&0</b>";
  nodes[0].labels["address"] = "\"10.0.0.1\"";
  Plan plan = MustPlan(R"(
name: t
roles:
  - {name: a, scheduling_spec: {gpu: 1, cmd: [x, "<script>alert('&')</script>"]}}
)",
                       nodes);
  ASSERT_EQ(plan.workers.size(), 1U);
  plan.workers[0].role = "r<o>le\"";  // the renderer trusts nothing (names are checked upstream)
  plan.workers[0].id = "a</div><script>";
  for (const std::string& doc : {PlanHtml(Input(plan, nodes)), PlanSvg(Input(plan, nodes))}) {
    EXPECT_FALSE(Contains(doc, "<script")) << doc;
    EXPECT_FALSE(Contains(doc, "<b>")) << doc;
    EXPECT_FALSE(Contains(doc, "r<o>")) << doc;
    EXPECT_TRUE(Contains(doc, "&lt;b&gt;n&amp;0&lt;/b&gt;"));
    EXPECT_TRUE(Contains(doc, "data-worker=\"a&lt;/div&gt;&lt;script&gt;\""));
    EXPECT_TRUE(Contains(doc, "&lt;script&gt;alert(&#39;&amp;&#39;)&lt;/script&gt;"));
    EXPECT_TRUE(Contains(doc, "&quot;10.0.0.1&quot;"));
  }
}

TEST(PlanMapTest, EveryWorkerOnExactlyItsNodeAndGpus) {
  const std::vector<NodeSpec> nodes = GpuNodes(2, 4, 8, 16);
  const Plan plan = MustPlan(kDemo, nodes);
  ASSERT_EQ(plan.workers.size(), 7U);
  const std::string html = PlanHtml(Input(plan, nodes));
  const std::string svg = PlanSvg(Input(plan, nodes));
  EXPECT_EQ(Boxes(html), Expected(plan));
  EXPECT_EQ(Boxes(svg), Expected(plan));
  EXPECT_TRUE(Contains(html, "rank 1/2"));         // a training rank
  EXPECT_TRUE(Contains(html, "inst 1 tp2 pp1"));   // a rollout instance
  EXPECT_TRUE(Contains(html, "<th>no GPU</th>"));  // the CPU-only worker's column
  EXPECT_TRUE(Contains(html, "data-group=\"rollout/0\""));
  // Self-contained: no script, nothing fetched.
  EXPECT_FALSE(Contains(html, "<script"));
  EXPECT_FALSE(Contains(html, "http://"));
  EXPECT_FALSE(Contains(html, "https://"));
  EXPECT_EQ(Count(svg, "<g"), Count(svg, "</g>"));
}

TEST(PlanMapTest, ForksSitOnTheirTargetsGpus) {
  const std::vector<NodeSpec> nodes = GpuNodes(1, 8, 8, 16);
  const Plan plan = MustPlan(kDemo, nodes);
  std::map<std::string, std::string> where;  // worker -> its box's node:gpu
  for (const std::string& box : Boxes(PlanHtml(Input(plan, nodes)))) {
    where[box.substr(0, box.find('@'))] = box.substr(box.find('@') + 1);
  }
  for (int i = 0; i < 2; ++i) {
    const std::string ref = "ref/" + std::to_string(i);
    const std::string actor = "actor/" + std::to_string(i);
    ASSERT_TRUE(where.count(ref)) << ref;
    EXPECT_EQ(where[ref], where[actor]);
  }
  const std::string html = PlanHtml(Input(plan, nodes));
  EXPECT_TRUE(Contains(html, "class=\"w fork\" data-worker=\"ref/0\""));
  EXPECT_TRUE(Contains(html, "fork of actor/0"));
}

TEST(PlanMapTest, AGroupedForkSitsInEachOfItsTrainersBundles) {
  const std::vector<NodeSpec> nodes = GpuNodes(1, 8);
  const Plan plan = MustPlan(R"(
name: t
roles:
  - {name: actor, replicas: 8, scheduling_spec: {gpu: 1, cmd: [x]}}
  - {name: gen, replicas: 2, scheduling_strategy: {type: colocation, target: actor},
     scheduling_spec: {gpu: 4, cmd: [y]}}
)",
                             nodes);
  const PlanMap map = BuildPlanMap(Input(plan, nodes));
  ASSERT_EQ(map.rows.size(), 1U);
  for (int d = 0; d < 8; ++d) {
    const MapCell& cell = map.rows[0].cells[static_cast<size_t>(d)];
    ASSERT_EQ(cell.bundles.size(), 1U) << "GPU " << d;  // no box of its own for the fork
    std::vector<std::string> chips;
    for (const MapChip& c : cell.bundles[0].chips) chips.push_back(c.worker);
    EXPECT_EQ(chips, (std::vector<std::string>{"actor/" + std::to_string(d),
                                               "gen/" + std::to_string(d / 4)}))
        << "GPU " << d;
  }
  EXPECT_TRUE(Contains(PlanHtml(Input(plan, nodes)), "fork over actor/4..actor/7"));
}

TEST(PlanMapTest, GpuSharesAreShownWithWhatIsLeft) {
  const std::vector<NodeSpec> nodes = GpuNodes(1, 2);
  const Plan plan = MustPlan(R"(
name: t
roles:
  - {name: a, replicas: 3, placement: separate, scheduling_spec: {gpu: 0.25, cmd: [x]}}
)",
                             nodes);
  const std::string html = PlanHtml(Input(plan, nodes));
  EXPECT_EQ(Boxes(html), Expected(plan));
  EXPECT_EQ(Count(html, "0.25 GPU"), 3U);
  EXPECT_TRUE(Contains(html, "0.25 free"));  // GPU 0: three quarters used
  EXPECT_TRUE(Contains(html, ">free<"));     // GPU 1: untouched
}

TEST(PlanMapTest, APlanThatDoesNotFitListsTheGroupAndEachNodesVerdict) {
  const std::vector<NodeSpec> nodes = GpuNodes(4, 8);
  Result<Plan> p =
      PlanYaml("name: t\nroles: [{name: a, scheduling_spec: {gpu: 16, cmd: [x]}}]\n", nodes);
  ASSERT_FALSE(p.has_value());
  const Plan empty;
  PlanMapInput input = Input(empty, nodes);
  input.not_placed = &p.error();
  const std::string html = PlanHtml(input);
  EXPECT_TRUE(Contains(html, "Not placed (INFEASIBLE)"));
  EXPECT_TRUE(Contains(html, "group &quot;a&quot; is not placed"));
  EXPECT_TRUE(Contains(html, "never_fits: bundle 0: GPU needs 16, has 8"));
  // Four idle nodes alike, with the same verdict: one row.
  EXPECT_TRUE(Contains(html, "data-nodes=\"n0..n3\" data-count=\"4\""));
  const std::string svg = PlanSvg(input);
  EXPECT_TRUE(Contains(svg, "Not placed (INFEASIBLE)"));
  EXPECT_TRUE(Contains(svg, "never_fits: bundle 0: GPU needs 16, has 8"));
}

TEST(PlanMapTest, AThousandNodesStayBoundedAndIdleOnesCollapse) {
  const std::vector<NodeSpec> nodes = GpuNodes(1000, 8);
  const Plan plan = MustPlan(R"(
name: t
roles:
  - {name: train, replicas: 24, placement: shared, scheduling_spec: {cpu: 1, gpu: 1, cmd: [x]}}
  - {name: gen, replicas: 4, placement: separate, scheduling_spec: {gpu: 8, cmd: [x]}}
)",
                             nodes);
  ASSERT_EQ(plan.workers.size(), 28U);
  const auto start = std::chrono::steady_clock::now();
  const std::string html = PlanHtml(Input(plan, nodes));
  const std::string svg = PlanSvg(Input(plan, nodes));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::seconds(2));
  EXPECT_EQ(Boxes(html), Expected(plan));
  EXPECT_EQ(Boxes(svg), Expected(plan));
  // 3 nodes of training, 4 of generation, then the other 993 in one row.
  EXPECT_TRUE(Contains(html, "data-nodes=\"n7..n999\" data-count=\"993\"")) << html.size();
  EXPECT_TRUE(Contains(html, "8 GPUs free on each"));
  EXPECT_LT(html.size(), 64U * 1024);
  EXPECT_LT(svg.size(), 96U * 1024);
}

TEST(PlanMapTest, AThousandBusyNodesGrowLinearly) {
  // Every node holds one worker: no row collapses, and the size is a few
  // kilobytes a node.
  const std::vector<NodeSpec> nodes = GpuNodes(1000, 8);
  const Plan plan = MustPlan(R"(
name: t
roles:
  - {name: gen, replicas: 1000, placement: separate, scheduling_spec: {gpu: 8, cmd: [x]}}
)",
                             nodes);
  ASSERT_EQ(plan.workers.size(), 1000U);
  const std::string html = PlanHtml(Input(plan, nodes));
  EXPECT_EQ(Boxes(html), Expected(plan));
  EXPECT_LT(html.size(), 1000U * 8 * 1024);
}

TEST(PlanMapTest, NoPlanAndNoNodesStillRender) {
  const PlanMapInput input{"empty", "no nodes", nullptr, nullptr, nullptr};
  EXPECT_TRUE(Contains(PlanHtml(input), "0 workers in 0 groups on 0 nodes"));
  EXPECT_TRUE(Contains(PlanSvg(input), "</svg>"));
}

}  // namespace
}  // namespace berth::formats
