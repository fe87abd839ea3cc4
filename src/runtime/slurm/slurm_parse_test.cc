#include "runtime/slurm/slurm_parse.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "berth/placement.h"
#include "berth/resources.h"

namespace berth::runtime::slurm {
namespace {

using Names = std::vector<std::string>;
using Ids = std::vector<int>;

constexpr int64_t kMib = int64_t{1} << 20;

// The samples in testdata/slurm/ were printed by a real Slurm 22.05.8
// (scripts/slurm-cluster.sh); testdata/slurm/README.md says how.
std::string Sample(const std::string& name) {
  std::string file = __FILE__;
  std::string path = file.substr(0, file.rfind('/')) + "/testdata/slurm/" + name;
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::map<std::string, SlurmNode> ByName(const std::vector<SlurmNode>& nodes) {
  std::map<std::string, SlurmNode> m;
  for (const SlurmNode& n : nodes) m[n.spec.name] = n;
  return m;
}

std::map<std::string, SlurmJob> ById(const std::vector<SlurmJob>& jobs) {
  std::map<std::string, SlurmJob> m;
  for (const SlurmJob& j : jobs) m[j.job_id] = j;
  return m;
}

// ---------------------------------------------------------------- hostlists

TEST(SlurmHostlistTest, Expands) {
  EXPECT_EQ(*ExpandHostlist("node[1-3,5],gpu07"),
            (Names{"node1", "node2", "node3", "node5", "gpu07"}));
  EXPECT_EQ(*ExpandHostlist("node1"), (Names{"node1"}));
  EXPECT_EQ(*ExpandHostlist("n[08-10]"), (Names{"n08", "n09", "n10"}));
  EXPECT_EQ(*ExpandHostlist("n[8-10]"), (Names{"n8", "n9", "n10"}));
  EXPECT_EQ(*ExpandHostlist("r[1-2]n[1-2]"), (Names{"r1n1", "r1n2", "r2n1", "r2n2"}));
  EXPECT_EQ(*ExpandHostlist("a[1-2]-ib"), (Names{"a1-ib", "a2-ib"}));
  EXPECT_EQ(*ExpandHostlist("a b,c"), (Names{"a", "b", "c"}));
  EXPECT_EQ(*ExpandHostlist("n[3,1]"), (Names{"n3", "n1"}));  // Slurm's order kept
  EXPECT_TRUE(ExpandHostlist("")->empty());
  EXPECT_TRUE(ExpandHostlist("(null)")->empty());
}

TEST(SlurmHostlistTest, RejectsBadText) {
  for (const char* bad : {"node[3-1]", "node[1-2", "node1]", "node[]", "node[a-b]", "n[[1]]",
                          "n[1-]", "n[-2]", "n[1,,2]"}) {
    auto r = ExpandHostlist(bad);
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidSpec);
    EXPECT_NE(r.error().message().find(std::string("'") + bad + "'"), std::string::npos)
        << r.error().message();
  }
}

TEST(SlurmHostlistTest, RefusesHugeLists) {
  auto r = ExpandHostlist("n[0-99999999]");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message().find("100000"), std::string::npos) << r.error().message();
  EXPECT_FALSE(ExpandHostlist("a[0-999]b[0-999]").has_value());  // the product is too big
  EXPECT_EQ(ExpandHostlist("a[0-99]b[0-99]")->size(), 10000u);
  EXPECT_FALSE(ExpandHostlist("n[0-9999999999999999999]").has_value());  // no overflow
}

// ---------------------------------------------------------------- indices and gres

TEST(SlurmIndexTest, ParsesGpuIndexLists) {
  EXPECT_EQ(*ParseIndexList("0,1,4-5", "SLURM_STEP_GPUS"), (Ids{0, 1, 4, 5}));
  EXPECT_EQ(*ParseIndexList("0-3", "SLURM_JOB_GPUS"), (Ids{0, 1, 2, 3}));
  EXPECT_EQ(*ParseIndexList("5,1,1", "x"), (Ids{1, 5}));
  EXPECT_EQ(*ParseIndexList(" 2 ", "x"), (Ids{2}));
  EXPECT_TRUE(ParseIndexList("", "x")->empty());
  for (const char* bad : {"1-", "x", "3-1", "70000", "0,,1", "-1", "1;2"}) {
    auto r = ParseIndexList(bad, "SLURM_STEP_GPUS");
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_NE(r.error().message().find("SLURM_STEP_GPUS"), std::string::npos);
  }
}

TEST(SlurmGresTest, ParsesNodeAndJobForms) {
  auto g = ParseGres("gpu:8", "t");
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(*g, (std::vector<Gres>{{"gpu", "", 8, false, {}}}));
  EXPECT_EQ(*ParseGres("gpu:a100:4", "t"), (std::vector<Gres>{{"gpu", "a100", 4, false, {}}}));
  EXPECT_EQ(*ParseGres("gpu:8(S:0)", "t"), (std::vector<Gres>{{"gpu", "", 8, false, {}}}));
  EXPECT_EQ(*ParseGres("gpu:a100:4(S:0-1),gpu:v100:2(S:0,1)", "t"),
            (std::vector<Gres>{{"gpu", "a100", 4, false, {}}, {"gpu", "v100", 2, false, {}}}));
  EXPECT_EQ(*ParseGres("gpu:2(IDX:0-1)", "t"), (std::vector<Gres>{{"gpu", "", 2, true, {0, 1}}}));
  EXPECT_EQ(*ParseGres("gpu:a100:0(IDX:N/A)", "t"),
            (std::vector<Gres>{{"gpu", "a100", 0, true, {}}}));
  EXPECT_EQ(*ParseGres("mps:1K,gpu:no_consume:2,bandwidth", "t"),
            (std::vector<Gres>{{"mps", "", 1024, false, {}},
                               {"gpu", "", 2, false, {}},
                               {"bandwidth", "", 1, false, {}}}));
  EXPECT_TRUE(ParseGres("(null)", "t")->empty());
  EXPECT_TRUE(ParseGres("", "t")->empty());
  for (const char* bad : {"gpu:a:b:2", "gpu:2(IDX:0-1", ":4", "gpu:2),x", "gpu:2,,mps:1",
                          "gpu:2(IDX:x)", "gpu:2(S:0)junk"}) {
    auto r = ParseGres(bad, "node7 Gres");
    ASSERT_FALSE(r.has_value()) << bad;
    EXPECT_NE(r.error().message().find("node7 Gres"), std::string::npos) << r.error().message();
  }
}

TEST(SlurmGresTest, GpuIndicesFromGresDetail) {
  EXPECT_EQ(*ParseGpuIndices("gpu:2(IDX:0-1)", "gres_detail"), (Ids{0, 1}));
  EXPECT_EQ(*ParseGpuIndices("gpu:a100:1(IDX:0),gpu:v100:2(IDX:4-5),mps:100(IDX:0)", "d"),
            (Ids{0, 4, 5}));
  EXPECT_EQ(*ParseGpuIndices("gpu:a100:3(IDX:0,2-3)", "d"), (Ids{0, 2, 3}));
  EXPECT_TRUE(ParseGpuIndices("gpu:0(IDX:N/A)", "d")->empty());
  EXPECT_FALSE(ParseGpuIndices("gpu:2(IDX:1-0)", "d").has_value());
}

// ---------------------------------------------------------------- node states

TEST(SlurmNodeStateTest, Compact) {
  struct Case {
    const char* text;
    NodeState state;
    bool usable;
    bool not_responding;
    const char* reason;
  };
  const Case cases[] = {
      {"idle", NodeState::kIdle, true, false, ""},
      {"mix", NodeState::kMixed, true, false, ""},
      {"alloc", NodeState::kAllocated, true, false, ""},
      {"comp", NodeState::kCompleting, true, false, ""},
      {"plnd", NodeState::kPlanned, true, false, ""},
      {"idle-", NodeState::kPlanned, true, false, ""},
      {"idle~", NodeState::kPoweredDown, true, false, ""},
      {"down", NodeState::kDown, false, false, "down"},
      {"down*", NodeState::kDown, false, true, "down, not responding"},
      {"idle*", NodeState::kIdle, false, true, "not responding"},
      {"mix*", NodeState::kMixed, false, true, "not responding"},
      {"drain", NodeState::kDrained, false, false, "drained"},
      {"drng", NodeState::kDraining, false, false, "draining"},
      {"inval", NodeState::kInvalid, false, false,
       "invalid (its slurmd's registration does not match slurm.conf)"},
      {"unk*", NodeState::kUnknown, false, true,
       "in an unknown state (its slurmd has not registered), not responding"},
      {"fail", NodeState::kFail, false, false, "failed"},
      {"maint", NodeState::kMaint, false, false, "in maintenance"},
      {"mix$", NodeState::kMixed, false, false, "in a maintenance reservation"},
      {"idle^", NodeState::kIdle, false, false, "rebooting"},
      {"IDLE+DRAIN", NodeState::kDrained, false, false, "drained"},
      {"mixed+drain", NodeState::kDraining, false, false, "draining"},
      {"idle+not_responding", NodeState::kIdle, false, true, "not responding"},
      {"weird", NodeState::kOther, false, false, "in a state berth does not know ('weird')"},
      {"", NodeState::kOther, false, false, "in a state berth does not know ('')"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    NodeStatus st = ParseNodeState(c.text);
    EXPECT_EQ(st.state, c.state) << NodeStateName(st.state);
    EXPECT_EQ(st.usable, c.usable);
    EXPECT_EQ(st.not_responding, c.not_responding);
    EXPECT_EQ(st.unusable_reason, c.reason);
    EXPECT_EQ(st.text, c.text);
  }
  EXPECT_STREQ(NodeStateName(NodeState::kDraining), "DRAINING");
}

// ---------------------------------------------------------------- sinfo

TEST(SlurmSinfoTest, FreshClusterOfFourNodes) {
  auto nodes = ParseSinfo(Sample("sinfo_idle.txt"), "sinfo_idle.txt");
  ASSERT_TRUE(nodes.has_value()) << nodes.error().ToString();
  ASSERT_EQ(nodes->size(), 4u);
  PlacementEngine engine;
  for (int i = 0; i < 4; ++i) {
    const SlurmNode& n = (*nodes)[i];
    EXPECT_EQ(n.spec.name, "node" + std::to_string(i + 1));
    EXPECT_EQ(n.spec.resources, (ResourceSet{{"CPU", Quantity::Whole(16)},
                                             {"GPU", Quantity::Whole(8)},
                                             {"memory", Quantity::Whole(64000 * kMib)}}));
    EXPECT_EQ(n.spec.labels,
              (std::map<std::string, std::string>{
                  {"address", "127.0.0.1"}, {"partition", "gpu"}, {"state", "idle"}}));
    EXPECT_TRUE(n.status.usable);
    EXPECT_EQ(n.status.state, NodeState::kIdle);
    EXPECT_EQ(n.partitions, Names{"gpu"});
    EXPECT_EQ(n.default_partition, "gpu");
    EXPECT_EQ(n.reason, "");
    EXPECT_EQ(n.alloc_cpus, 0);
    EXPECT_EQ(n.gpus_used, 0);
    // What the parser makes, the engine takes.
    EXPECT_TRUE(engine.AddNode(n.spec).ok());
  }
}

TEST(SlurmSinfoTest, BusyNodes) {
  auto nodes = ParseSinfo(Sample("sinfo_busy.txt"), "sinfo_busy.txt");
  ASSERT_TRUE(nodes.has_value()) << nodes.error().ToString();
  auto m = ByName(*nodes);
  EXPECT_EQ(m["node1"].status.state, NodeState::kMixed);
  EXPECT_EQ(m["node1"].alloc_cpus, 8);
  EXPECT_EQ(m["node1"].alloc_memory_bytes, 8192 * kMib);
  EXPECT_EQ(m["node1"].gpus_used, 6);
  EXPECT_TRUE(m["node1"].gpus_used_indices.empty());  // untyped GresUsed has no IDX in 22.05
  EXPECT_EQ(m["node3"].status.state, NodeState::kAllocated);
  EXPECT_TRUE(m["node3"].status.usable);
  EXPECT_EQ(m["node3"].alloc_cpus, 16);
  EXPECT_EQ(m["node3"].gpus_used, 8);
  EXPECT_EQ(m["node3"].spec.labels["state"], "alloc");
}

TEST(SlurmSinfoTest, DownDrainingAndNotRespondingNodes) {
  auto nodes = ParseSinfo(Sample("sinfo_failures.txt"), "sinfo_failures.txt");
  ASSERT_TRUE(nodes.has_value()) << nodes.error().ToString();
  ASSERT_EQ(nodes->size(), 4u);
  auto m = ByName(*nodes);
  EXPECT_TRUE(m["node1"].status.usable);

  EXPECT_EQ(m["node2"].status.state, NodeState::kDraining);
  EXPECT_FALSE(m["node2"].status.usable);
  // A "|" inside the reason (the last field) survives.
  EXPECT_EQ(m["node2"].reason, "maintenance: swap gpu|psu");
  EXPECT_EQ(m["node2"].status.unusable_reason, "draining: maintenance: swap gpu|psu");
  EXPECT_EQ(m["node2"].gpus_used, 2);

  EXPECT_EQ(m["node3"].status.state, NodeState::kDown);
  EXPECT_FALSE(m["node3"].status.not_responding);
  EXPECT_EQ(m["node3"].status.unusable_reason, "down: berth slurm-cluster.sh fail-node");

  EXPECT_EQ(m["node4"].status.state, NodeState::kDown);
  EXPECT_TRUE(m["node4"].status.not_responding);
  EXPECT_EQ(m["node4"].status.unusable_reason, "down, not responding: Not responding");
  EXPECT_EQ(m["node4"].spec.labels["state"], "down*");
  // Unusable nodes still report what they have.
  EXPECT_EQ(m["node4"].spec.resources.Get(kGpu), Quantity::Whole(8));

  auto nr = ParseSinfo(Sample("sinfo_not_responding.txt"), "sinfo_not_responding.txt");
  ASSERT_TRUE(nr.has_value());
  EXPECT_EQ(ByName(*nr)["node4"].status.unusable_reason, "down, not responding: Not responding");
}

TEST(SlurmSinfoTest, TypedGpusAndTwoPartitions) {
  auto nodes = ParseSinfo(Sample("sinfo_typed_two_partitions.txt"), "typed");
  ASSERT_TRUE(nodes.has_value()) << nodes.error().ToString();
  ASSERT_EQ(nodes->size(), 3u);  // node1 and node2 are listed twice, once per partition
  const SlurmNode& n1 = (*nodes)[0];
  EXPECT_EQ(n1.spec.name, "node1");
  EXPECT_EQ(n1.partitions, (Names{"debug", "main"}));
  EXPECT_EQ(n1.default_partition, "main");
  EXPECT_EQ(n1.spec.labels.at("partition"), "debug,main");
  EXPECT_EQ(n1.spec.labels.at("gpu_type"), "a100");
  EXPECT_EQ(n1.spec.resources.Get(kGpu), Quantity::Whole(4));
  EXPECT_EQ(n1.spec.resources.Get(kCpu), Quantity::Whole(8));
  EXPECT_EQ(n1.spec.resources.Get(kMemory), Quantity::Whole(32000 * kMib));
  EXPECT_EQ(n1.gpus_used, 2);
  EXPECT_EQ(n1.gpus_used_indices, (Ids{0, 1}));

  const SlurmNode& n2 = (*nodes)[1];
  EXPECT_EQ(n2.status.state, NodeState::kDrained);
  EXPECT_EQ(n2.status.unusable_reason, "drained: bad gpu");
  EXPECT_TRUE(n2.gpus_used_indices.empty());

  const SlurmNode& n3 = (*nodes)[2];
  EXPECT_EQ(n3.partitions, Names{"main"});
  EXPECT_EQ(n3.gpus_used_indices, Ids{0});
}

TEST(SlurmSinfoTest, InvalidAndUnknownNodes) {
  auto nodes = ParseSinfo(Sample("sinfo_invalid.txt"), "sinfo_invalid.txt");
  ASSERT_TRUE(nodes.has_value()) << nodes.error().ToString();
  auto m = ByName(*nodes);
  EXPECT_EQ(m["node1"].status.state, NodeState::kUnknown);
  EXPECT_FALSE(m["node1"].status.usable);
  EXPECT_EQ(m["node2"].status.state, NodeState::kInvalid);
  EXPECT_EQ(m["node2"].reason, "gres/gpu count reported lower than configured (2 < 4)");
  EXPECT_NE(m["node2"].status.unusable_reason.find("(2 < 4)"), std::string::npos);
}

TEST(SlurmSinfoTest, CompletingNode) {
  auto nodes = ParseSinfo(Sample("sinfo_completing.txt"), "sinfo_completing.txt");
  ASSERT_TRUE(nodes.has_value()) << nodes.error().ToString();
  EXPECT_EQ((*nodes)[0].status.state, NodeState::kCompleting);
  EXPECT_TRUE((*nodes)[0].status.usable);
}

TEST(SlurmSinfoTest, ErrorsNameTheLineAndField) {
  auto short_line = ParseSinfo("node1|gpu*|idle|16|\n", "sinfo");
  ASSERT_FALSE(short_line.has_value());
  EXPECT_NE(short_line.error().message().find("sinfo:1: line"), std::string::npos);
  EXPECT_NE(short_line.error().message().find("expected 12 fields"), std::string::npos);

  auto bad_cpus = ParseSinfo(
      "node1|gpu*|idle|16|64000|0|0/16/0/16|gpu:8|gpu:0|127.0.0.1|(null)|none|\n"
      "node2|gpu*|idle|many|64000|0|0/16/0/16|gpu:8|gpu:0|127.0.0.1|(null)|none|\n",
      "sinfo");
  ASSERT_FALSE(bad_cpus.has_value());
  EXPECT_EQ(bad_cpus.error().message(), "sinfo:2: CPUs 'many': is not a whole number");

  auto ranged = ParseSinfo(
      "node[1-2]|gpu*|idle|16|64000|0|0/16/0/16|gpu:8|gpu:0|127.0.0.1|(null)|none|", "s");
  ASSERT_FALSE(ranged.has_value());
  EXPECT_NE(ranged.error().message().find("run sinfo with -N"), std::string::npos);

  auto gres = ParseSinfo("n1|p|idle|1|1|0|0/1/0/1|gpu:x:y:1|gpu:0|a|(null)|none|", "s");
  ASSERT_FALSE(gres.has_value());
  EXPECT_NE(gres.error().message().find("s:1: Gres"), std::string::npos) << gres.error().message();

  auto many_gpus = ParseSinfo("n1|p|idle|1|1|0|0/1/0/1|gpu:2000|gpu:0|a|(null)|none|", "s");
  ASSERT_FALSE(many_gpus.has_value());

  auto huge_mem =
      ParseSinfo("n1|p|idle|1|999999999999|0|0/1/0/1|(null)|(null)|a|(null)|none|", "s");
  ASSERT_FALSE(huge_mem.has_value());
  EXPECT_NE(huge_mem.error().message().find("1e14"), std::string::npos);
}

TEST(SlurmSinfoTest, HeaderBlankLinesAndNoGpus) {
  auto nodes = ParseSinfo(
      "NODELIST|PARTITION|STATE|CPUS|MEMORY|ALLOCMEM|CPUS(A/I/O/"
      "T)|GRES|GRES_USED|NODE_ADDR|AVAIL_FEATURES|REASON|\n"
      "\n"
      "cpu01|batch*|idle|64|256000|0|0/64/0/64|(null)|(null)|10.0.0.1|ib,avx512|none|\r\n",
      "s");
  ASSERT_TRUE(nodes.has_value()) << nodes.error().ToString();
  ASSERT_EQ(nodes->size(), 1u);
  EXPECT_FALSE((*nodes)[0].spec.resources.Has(kGpu));
  EXPECT_EQ((*nodes)[0].spec.labels.at("features"), "ib,avx512");
  EXPECT_EQ((*nodes)[0].spec.labels.at("address"), "10.0.0.1");
  EXPECT_EQ(ParseSinfo("", "s")->size(), 0u);
}

// ---------------------------------------------------------------- squeue

TEST(SlurmSqueueTest, EveryJobState) {
  auto jobs = ParseSqueue(Sample("squeue_all_states.txt"), "squeue_all_states.txt");
  ASSERT_TRUE(jobs.has_value()) << jobs.error().ToString();
  ASSERT_EQ(jobs->size(), 17u);
  auto m = ById(*jobs);

  EXPECT_EQ(m["6"].state, JobState::kCancelled);
  EXPECT_EQ(m["5"].state, JobState::kCompleted);
  EXPECT_EQ(m["4"].state, JobState::kFailed);
  EXPECT_EQ(m["4"].reason, "NonZeroExitCode");
  EXPECT_EQ(m["3"].state, JobState::kTimeout);
  EXPECT_EQ(m["3"].reason, "TimeLimit");

  EXPECT_EQ(m["1"].state, JobState::kNodeFail);
  EXPECT_EQ(m["1"].state_text, "NODE_FAIL");
  EXPECT_EQ(m["1"].reason, "NodeDown");
  EXPECT_EQ(m["1"].nodelist, "node[1-2]");
  EXPECT_EQ(m["1"].nodes, (Names{"node1", "node2"}));
  EXPECT_EQ(m["1"].node_count, 2);

  EXPECT_EQ(m["7"].state, JobState::kPending);
  EXPECT_EQ(m["7"].reason,
            "Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority "
            "partitions");
  EXPECT_TRUE(m["7"].nodes.empty());
  EXPECT_EQ(m["7"].node_count, 4);
  EXPECT_EQ(m["8"].reason, "Dependency");
  EXPECT_EQ(m["16"].reason, "BeginTime");  // requeued after its node failed

  EXPECT_EQ(m["2"].state, JobState::kRunning);
  EXPECT_EQ(m["2"].reason, "");
  EXPECT_EQ(m["2"].display_id, "2");
  EXPECT_EQ(m["2"].het_job_id, "");
  EXPECT_EQ(m["2"].het_offset, -1);

  EXPECT_EQ(m["11"].display_id, "10_1");  // an array task

  EXPECT_EQ(m["14"].display_id, "13+1");  // a heterogeneous job's second component
  EXPECT_EQ(m["14"].het_job_id, "13");
  EXPECT_EQ(m["14"].het_offset, 1);
  EXPECT_EQ(m["14"].nodes, Names{"node2"});

  for (const char* id : {"6", "5", "4", "3", "1"}) EXPECT_TRUE(IsFinal(m[id].state)) << id;
  for (const char* id : {"7", "2", "14"}) EXPECT_FALSE(IsFinal(m[id].state)) << id;
}

TEST(SlurmSqueueTest, CompletingAndHetJob) {
  auto jobs = ParseSqueue(Sample("squeue_completing.txt"), "c");
  ASSERT_TRUE(jobs.has_value()) << jobs.error().ToString();
  EXPECT_EQ(ById(*jobs)["3"].state, JobState::kCompleting);
  EXPECT_FALSE(IsFinal(JobState::kCompleting));

  auto het = ParseSqueue(Sample("squeue_het_job.txt"), "h");
  ASSERT_TRUE(het.has_value());
  ASSERT_EQ(het->size(), 2u);
  EXPECT_EQ((*het)[0].het_offset, 0);
  EXPECT_EQ((*het)[0].nodes, Names{"node1"});
}

TEST(SlurmSqueueTest, Steps) {
  auto steps = ParseSqueueSteps(Sample("squeue_steps.txt"), "squeue_steps.txt");
  ASSERT_TRUE(steps.has_value()) << steps.error().ToString();
  ASSERT_EQ(steps->size(), 11u);
  const SlurmStep& s = (*steps)[1];
  EXPECT_EQ(s.step_id, "9.0");
  EXPECT_EQ(s.job_id, "9");
  EXPECT_EQ(s.step, "0");
  EXPECT_EQ(s.state, JobState::kRunning);
  EXPECT_EQ(s.nodes, (Names{"node1", "node2"}));
  EXPECT_EQ(s.tasks, 4);
  EXPECT_EQ(s.name, "sleep");
  const SlurmStep& a = (*steps)[3];
  EXPECT_EQ(a.job_id, "10_3");
  EXPECT_EQ(a.step, "batch");
  auto odd = ParseSqueueSteps("7.0|RUNNING|n1|2|a|b|\n", "s");  // a name holding "|"
  ASSERT_TRUE(odd.has_value());
  EXPECT_EQ((*odd)[0].name, "a|b");
}

TEST(SlurmSqueueTest, Errors) {
  auto short_line = ParseSqueue("5|5|N/A|RUNNING|\n", "squeue");
  ASSERT_FALSE(short_line.has_value());
  EXPECT_NE(short_line.error().message().find("expected 8 fields"), std::string::npos);
  auto bad_id = ParseSqueue("x5|5|N/A|N/A|RUNNING|1|n1|None|", "squeue");
  ASSERT_FALSE(bad_id.has_value());
  EXPECT_EQ(bad_id.error().message(), "squeue:1: JobID 'x5': is not a job number");
  auto bad_nodes = ParseSqueue("5|5|N/A|N/A|RUNNING|1|n[2-1]|None|", "squeue");
  ASSERT_FALSE(bad_nodes.has_value());
  EXPECT_NE(bad_nodes.error().message().find("squeue:1: NodeList 'n[2-1]'"), std::string::npos);
  EXPECT_FALSE(ParseSqueueSteps("7|RUNNING|n1|2|a|", "s").has_value());  // no JOB.STEP
  EXPECT_FALSE(ParseSqueueSteps("7.|RUNNING|n1|2|a|", "s").has_value());
}

TEST(SlurmJobStateTest, NamesAndUnknownText) {
  for (JobState s :
       {JobState::kPending, JobState::kRunning, JobState::kCompleting, JobState::kCompleted,
        JobState::kCancelled, JobState::kFailed, JobState::kTimeout, JobState::kOutOfMemory,
        JobState::kNodeFail, JobState::kBootFail, JobState::kPreempted}) {
    EXPECT_EQ(ParseJobState(JobStateName(s)), s) << JobStateName(s);
  }
  EXPECT_EQ(ParseJobState("CANCELLED by 0"), JobState::kCancelled);
  EXPECT_EQ(ParseJobState("NF"), JobState::kNodeFail);
  EXPECT_EQ(ParseJobState("OOM"), JobState::kOutOfMemory);
  EXPECT_EQ(ParseJobState("SPECIAL_EXIT"), JobState::kOther);
  EXPECT_STREQ(JobStateName(JobState::kOther), "OTHER");
  auto jobs = ParseSqueue("9|9|N/A|N/A|SPECIAL_EXIT|1|n1|None|", "s");
  ASSERT_TRUE(jobs.has_value());
  EXPECT_EQ((*jobs)[0].state, JobState::kOther);
  EXPECT_EQ((*jobs)[0].state_text, "SPECIAL_EXIT");  // kept verbatim
}

TEST(SlurmClientErrorTest, Classifies) {
  Status unknown = ClientError("squeue -j 999", 1, Sample("squeue_unknown_job.stderr"));
  EXPECT_EQ(unknown.code(), ErrorCode::kNotFound);
  EXPECT_EQ(unknown.message(),
            "squeue -j 999 failed (exit 1): slurm_load_jobs error: Invalid job id specified");
  EXPECT_EQ(
      ClientError("squeue", 1,
                  "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n")
          .code(),
      ErrorCode::kUnavailable);
  EXPECT_EQ(
      ClientError("squeue", 1, "slurm_load_jobs error: Socket timed out on send/recv operation")
          .code(),
      ErrorCode::kUnavailable);
  Status timed_out = ClientError("srun", 124, "");
  EXPECT_EQ(timed_out.code(), ErrorCode::kUnavailable);
  EXPECT_NE(timed_out.message().find("timed out"), std::string::npos);
  Status conf =
      ClientError("sinfo", 1, "sinfo: error: Could not establish a configuration source\n");
  EXPECT_EQ(conf.code(), ErrorCode::kBackend);
  EXPECT_NE(conf.message().find("SLURM_CONF"), std::string::npos);
  EXPECT_EQ(ClientError("sbatch", 1, "sbatch: error: Batch job submission failed: whatever").code(),
            ErrorCode::kBackend);
}

TEST(SlurmArgsTest, CommandLines) {
  EXPECT_EQ(SinfoArgs(), (Names{"-N", "-h", "-O", std::string(kSinfoFormat)}));
  EXPECT_EQ(SqueueJobArgs({"5", "7"}),
            (Names{"-h", "-t", "all", "-O", std::string(kSqueueFormat), "-j", "5,7"}));
  EXPECT_EQ(SqueueStepArgs({}), (Names{"-s", "-h", "-O", std::string(kSqueueStepsFormat)}));
}

TEST(SlurmParseTest, OddInputNeverCrashes) {
  const std::string inputs[] = {
      std::string("\0\xff|||\n", 6),
      "|||||||||||||||||||||||||",
      "\n\n\n",
      "[",
      "]",
      "[[[]]]",
      "a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p",
      "n1|p|idle|1|1|0|/|(|)|a|b|c|",
      "1|1|1|99999999999999999999|R|1|[1-2]|x|",
      std::string(5000, '['),
  };
  // An error is invalid_spec and starts with what was read (`prefix`), so that
  // a person can trace it; a value keeps the bounds that slurm_parse.h gives.
  auto named = [](const Status& s, const std::string& prefix) {
    EXPECT_EQ(s.code(), ErrorCode::kInvalidSpec) << s.message();
    EXPECT_TRUE(s.message().starts_with(prefix) && s.message().size() > prefix.size())
        << s.message();
  };
  // Errors in a command's output name the source and the line: "x:3: ...".
  auto at_line = [&](const Status& s) {
    named(s, "x:");
    EXPECT_TRUE(s.message().size() > 2 && s.message()[2] >= '1' && s.message()[2] <= '9');
  };
  auto hosts_ok = [](const std::vector<std::string>& names) {
    EXPECT_LE(names.size(), kMaxHosts);
    for (const std::string& n : names) {
      EXPECT_TRUE(!n.empty() && n.find_first_of("[], ") == std::string::npos) << n;
    }
  };
  auto indices_ok = [](const std::vector<int>& v) {
    EXPECT_TRUE(std::is_sorted(v.begin(), v.end()));
    EXPECT_EQ(std::adjacent_find(v.begin(), v.end()), v.end());
    for (int i : v) EXPECT_TRUE(i >= 0 && i < kMaxIndex) << i;
  };
  for (const std::string& in : inputs) {
    SCOPED_TRACE(::testing::PrintToString(in.substr(0, 40)));
    if (auto nodes = ParseSinfo(in, "x")) {
      for (const SlurmNode& n : *nodes) {
        hosts_ok({n.spec.name});
        EXPECT_EQ(n.status.usable, n.status.unusable_reason.empty());
        EXPECT_GE(n.gpus_used, 0);
        indices_ok(n.gpus_used_indices);
      }
    } else {
      at_line(nodes.error());
    }
    if (auto jobs = ParseSqueue(in, "x")) {
      for (const SlurmJob& j : *jobs) {
        EXPECT_TRUE(!j.job_id.empty() &&
                    j.job_id.find_first_not_of("0123456789") == std::string::npos)
            << j.job_id;
        EXPECT_GE(j.node_count, 0);
        hosts_ok(j.nodes);
      }
    } else {
      at_line(jobs.error());
    }
    if (auto steps = ParseSqueueSteps(in, "x")) {
      for (const SlurmStep& st : *steps) {
        EXPECT_TRUE(!st.job_id.empty() && !st.step.empty()) << st.step_id;
        EXPECT_EQ(st.step_id, st.job_id + "." + st.step);
        EXPECT_GE(st.tasks, 0);
        hosts_ok(st.nodes);
      }
    } else {
      at_line(steps.error());
    }
    if (auto hosts = ExpandHostlist(in)) {
      hosts_ok(*hosts);
    } else {
      named(hosts.error(), "hostlist ");
    }
    if (auto indices = ParseIndexList(in, "x")) {
      indices_ok(*indices);
    } else {
      named(indices.error(), "x: index list ");
    }
    if (auto gres = ParseGres(in, "x")) {
      for (const Gres& g : *gres) {
        EXPECT_TRUE(!g.name.empty() && g.count >= 0) << g.name;
        EXPECT_TRUE(g.has_indices || g.indices.empty());
        indices_ok(g.indices);
      }
    } else {
      named(gres.error(), "x: gres ");
    }
    if (auto gpus = ParseGpuIndices(in, "x")) {
      indices_ok(*gpus);
    } else {
      named(gpus.error(), "x: gres ");
    }
    // No odd text reads as a state berth knows, and a node in an unknown
    // state is never used.
    const NodeStatus node = ParseNodeState(in);
    EXPECT_EQ(node.state, NodeState::kOther) << NodeStateName(node.state);
    EXPECT_FALSE(node.usable);
    EXPECT_NE(node.unusable_reason.find("does not know"), std::string::npos);
    EXPECT_EQ(ParseJobState(in), JobState::kOther);
    // None of them is a known failure: a backend error that names the call.
    const Status client = ClientError("x", 1, in);
    EXPECT_EQ(client.code(), ErrorCode::kBackend) << client.message();
    EXPECT_TRUE(client.message().starts_with("x failed (exit 1)")) << client.message();
  }
}

}  // namespace
}  // namespace berth::runtime::slurm
