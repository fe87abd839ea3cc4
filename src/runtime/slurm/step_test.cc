// The Slurm backend's pure parts: what the holder job asks for, the srun argv
// of a step, the script that narrows a step's devices, and scontrol's grant.

#include "runtime/slurm/step.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>
#include <vector>

#include "roles/ports.h"

namespace berth::runtime::slurm {
namespace {

NodeSpec GpuNode(const std::string& name, int gpus) {
  NodeSpec n{name, {}, {{"address", "127.0.0.1"}}};
  n.resources.Set(kCpu, Quantity::Whole(16));
  n.resources.Set(kMemory, Quantity::Whole(int64_t{64} << 30));
  n.resources.Set(kGpu, Quantity::Whole(gpus));
  return n;
}

RoleSpec Role(const std::string& name, int replicas, int gpu, Quantity cpu) {
  RoleSpec r;
  r.name = name;
  r.replicas = replicas;
  SchedulingSpec s;
  s.cpu = cpu;
  s.gpu = Quantity::Whole(gpu);
  s.mem_gib = Quantity::Units(Quantity::kScale / 2);  // 0.5 GiB
  s.cmd = {"w"};
  r.tasks = {s};
  return r;
}

TEST(SlurmStepTest, NodeRequestsSumThePlanPerNode) {
  ExperimentSpec e;
  e.name = "x";
  e.roles = {Role("actor", 2, 2, Quantity::Units(15000)),
             Role("rollout", 1, 12, Quantity::Whole(1))};
  e.roles[1].placement = PlacementMode::kDeferred;
  Result<Plan> plan =
      MakePlan(e, {GpuNode("node1", 8), GpuNode("node2", 8)}, roles::CountingPorts());
  ASSERT_TRUE(plan.has_value()) << plan.error().ToString();
  std::vector<NodeRequest> r = NodeRequests(*plan);
  ASSERT_EQ(r.size(), 2u);
  // actor: 2 x (1.5 CPU, 2 GPUs, 0.5 GiB) packed on node1; rollout: 12
  // GPUs split 8 on node2 + 4 on node1, its cpu 1 and mem 0.5 GiB split as
  // AReaL does (8/12 of them rounded half-to-even, the rest last): node1
  // gets cpu 0 and 0.1667 GiB of it.
  EXPECT_EQ(r[0].node, "node1");
  EXPECT_EQ(r[0].gpus, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(r[0].cpus, 3);
  EXPECT_EQ(r[0].mem_mb, 1195);  // 1024 + 170.7 MiB, rounded up
  EXPECT_EQ(r[1].node, "node2");
  EXPECT_EQ(r[1].gpus.size(), 8u);
}

TEST(SlurmStepTest, HolderArgvHasOneComponentPerNode) {
  std::vector<NodeRequest> nodes = {{"node1", 4, 1536, {0, 1, 2}}, {"node2", 1, 1, {}}};
  EXPECT_EQ(HolderArgv("berth-x", "gpu", nodes, "/r/holder.log", "/r/holder.sh",
                       {"/r/slurm.heartbeat", "15"}),
            (std::vector<std::string>{"sbatch",
                                      "--parsable",
                                      "--job-name=berth-x",
                                      "--no-requeue",
                                      "--output=/r/holder.log",
                                      "--nodes=1",
                                      "--ntasks=1",
                                      "--nodelist=node1",
                                      "--cpus-per-task=4",
                                      "--mem=1536M",
                                      "--gres=gpu:3",
                                      "--partition=gpu",
                                      ":",
                                      "--nodes=1",
                                      "--ntasks=1",
                                      "--nodelist=node2",
                                      "--cpus-per-task=1",
                                      "--mem=1M",
                                      "--partition=gpu",
                                      "/r/holder.sh",
                                      "/r/slurm.heartbeat",
                                      "15"}));
}

TEST(SlurmStepTest, EqualNodesMakeOnePlainJob) {
  std::vector<NodeRequest> nodes = {{"node1", 2, 100, {0, 1}}, {"node3", 2, 100, {4, 5}}};
  EXPECT_TRUE(Homogeneous(nodes));
  EXPECT_EQ(HolderArgv("j", "", nodes, "l", "s", {"a"}),
            (std::vector<std::string>{"sbatch", "--parsable", "--job-name=j", "--no-requeue",
                                      "--output=l", "--no-kill", "--nodes=2", "--ntasks-per-node=1",
                                      "--nodelist=node1,node3", "--cpus-per-task=2", "--mem=100M",
                                      "--gres=gpu:2", "s", "a"}));
}

TEST(SlurmStepTest, StepArgvPassesUserValuesAsArgumentsOnly) {
  std::vector<std::string> argv = StepArgv("12", 1, "node2", "actor/0", {1, 3},
                                           {"/bin/prog", "--flag=a b", "it's \"quoted\"; rm -rf"});
  ASSERT_GE(argv.size(), 15u);
  EXPECT_EQ(argv[0], "srun");
  EXPECT_EQ(argv[1], "--jobid=12");
  EXPECT_EQ(argv[2], "--het-group=1");
  EXPECT_EQ(
      std::vector<std::string>(argv.end() - 4, argv.end()),
      (std::vector<std::string>{"1,3", "/bin/prog", "--flag=a b", "it's \"quoted\"; rm -rf"}));
  // A plain job has no het group.
  EXPECT_EQ(StepArgv("12", -1, "node2", "a/0", {}, {"p"})[2], "--nodes=1");
}

// Runs the step's script here, as srun would on the node, with Slurm's
// CUDA_VISIBLE_DEVICES for the step, and returns what the worker sees.
std::string SeenDevices(const std::string& slurm_devices, const std::vector<int>& positions) {
  std::vector<std::string> argv = StepArgv(
      "1", -1, "n", "w/0", positions, {"/bin/sh", "-c", "printf %s \"$CUDA_VISIBLE_DEVICES\""});
  // Everything after "--" is the step's command.
  size_t at = 0;
  while (argv[at] != "--") ++at;
  std::string cmd = "CUDA_VISIBLE_DEVICES='" + slurm_devices + "'";
  for (size_t i = at + 1; i < argv.size(); ++i) {
    std::string q;
    for (char c : argv[i]) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    cmd += " '" + q + "'";
  }
  FILE* f = popen(cmd.c_str(), "r");
  std::string out;
  char buf[256];
  while (size_t n = fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  pclose(f);
  return out;
}

TEST(SlurmStepTest, StepScriptKeepsThePlannedPositionsOfTheGrantedDevices) {
  EXPECT_EQ(SeenDevices("4,5,6,7", {1, 2}), "5,6");
  EXPECT_EQ(SeenDevices("0,1,2,3", {0}), "0");        // renumbered under ConstrainDevices
  EXPECT_EQ(SeenDevices("0,1,2,3,4,5,6,7", {}), "");  // a worker without GPUs sees none
  EXPECT_EQ(Positions({5, 7}, {2, 5, 6, 7}), (std::vector<int>{1, 3}));
}

TEST(SlurmStepTest, GrantedGpusFromScontrol) {
  // scontrol show job -d of a heterogeneous job, as Slurm 22.05 prints it.
  const char* text =
      "JobId=1 HetJobId=1 HetJobOffset=0 JobName=hold\n"
      "   NumNodes=1 NumCPUs=2 NumTasks=1 CPUs/Task=2 ReqB:S:C:T=0:0:*:*\n"
      "   JOB_GRES=gpu:3\n"
      "     Nodes=node1 CPU_IDs=0-1 Mem=1024 GRES=gpu:3(IDX:0,2-3)\n"
      "JobId=2 HetJobId=1 HetJobOffset=1 JobName=hold\n"
      "     Nodes=node2 CPU_IDs=0 Mem=1024 GRES=\n"
      "     Nodes=node[3-4] CPU_IDs=0 Mem=1024 GRES=gpu:1(IDX:7)\n";
  Result<std::map<std::string, std::vector<int>>> g = ParseGrantedGpus(text, "scontrol");
  ASSERT_TRUE(g.has_value()) << g.error().ToString();
  EXPECT_EQ((*g)["node1"], (std::vector<int>{0, 2, 3}));
  EXPECT_TRUE((*g)["node2"].empty());
  EXPECT_EQ((*g)["node4"], (std::vector<int>{7}));
}

}  // namespace
}  // namespace berth::runtime::slurm
