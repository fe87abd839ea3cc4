// The life cycle of `berth run` on fakes: a scripted launcher, a scripted
// probe and a fake clock under a real Run (its experiment file, run dir,
// state.json and control API are real). How a run ends, with which code,
// in which order it tears down and what state.json says, checked exactly and
// in milliseconds. tests/cli/run_cli_test.sh runs the real program.

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "formats/run_state.h"
#include "run/run.h"
#include "testing/fake_clock.h"
#include "testing/fake_launcher.h"
#include "testing/fake_probe.h"

namespace berth::run {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeClock;
using testing::FakeLauncher;
using testing::FakeProbe;

// Two training ranks and a reference model forked onto their GPUs.
constexpr char kExperiment[] = R"(name: fake
cluster: {gpus: 4, cpu: 8, mem: 16}
roles:
  - name: actor
    replicas: 2
    placement: shared
    scheduling_spec: {cpu: 1, gpu: 1, mem: 1, ports: [http], cmd: [/opt/trainer]}
    readiness: {http: {port: http, path: /health}}
    startup_timeout: 20
  - name: ref
    replicas: 2
    scheduling_strategy: {type: colocation, target: actor, fork: true}
    scheduling_spec: {cpu: 1, mem: 1, cmd: [/opt/ref]}
    readiness: none
)";

class RunFakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("berth-run-fake-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    run_.reset();
    std::filesystem::remove_all(dir_);
  }

  int Main(const std::string& experiment = kExperiment) {
    std::ofstream(dir_ / "experiment.yaml") << experiment;
    RunOptions options;
    options.experiment_path = (dir_ / "experiment.yaml").string();
    options.run_dir = (dir_ / "run").string();
    options.backend = "local";
    options.status_table = false;
    auto launcher = std::make_unique<FakeLauncher>(clock_);
    launcher_ = launcher.get();
    auto stop = std::make_unique<StopRequest>();
    stop_ = stop.get();
    // Kept until the test ends: it owns the launcher the test reads.
    run_ = std::make_unique<run::Run>(options, RunSeams{.launcher = std::move(launcher),
                                                        .stop = std::move(stop),
                                                        .clock = &clock_,
                                                        .probe = &probe_,
                                                        .slurm_commands = nullptr,
                                                        .cgroup = "",
                                                        .no_cgroup = ""});
    return run_->Main();
  }
  formats::RunState State() {
    Result<formats::RunState> s = formats::ReadState((dir_ / "run").string());
    EXPECT_TRUE(s.has_value()) << s.error().ToString();
    return s ? *s : formats::RunState{};
  }
  std::vector<std::string> Launched() const {
    std::vector<std::string> ids;
    for (const LaunchSpec& s : launcher_->launched()) ids.push_back(s.id);
    return ids;
  }

  FakeClock clock_;
  FakeProbe probe_;
  FakeLauncher* launcher_ = nullptr;
  StopRequest* stop_ = nullptr;
  std::unique_ptr<run::Run> run_;
  std::filesystem::path dir_;
};

TEST_F(RunFakeTest, AStopRequestEndsTheRunWithZeroAndTearsDownInOrder) {
  clock_.At(seconds(10), [&] { stop_->RequestDown(); });
  EXPECT_EQ(Main(), 0);
  // Targets first, forks after; forks stopped first, rank 0 of each last.
  EXPECT_EQ(Launched(), (std::vector<std::string>{"actor/0", "actor/1", "ref/0", "ref/1"}));
  EXPECT_EQ(launcher_->terminations(), (std::vector<std::vector<std::string>>{
                                           {"ref/1"}, {"ref/0"}, {"actor/1"}, {"actor/0"}}));
  EXPECT_TRUE(launcher_->Running().empty());
  EXPECT_GE(clock_.Elapsed(), seconds(10));
  EXPECT_LT(clock_.Elapsed(), seconds(10) + milliseconds(50));
  const formats::RunState state = State();
  EXPECT_EQ(state.phase, "stopped");
  ASSERT_EQ(state.workers.size(), 4U);
  for (const formats::WorkerRecord& w : state.workers) {
    EXPECT_EQ(w.state, formats::WorkerState::kStopped) << w.id;
    EXPECT_GE(w.pid, 1000) << w.id;
  }
  // The fork runs on its target's GPU.
  EXPECT_EQ(state.workers[2].id, "ref/0");
  EXPECT_EQ(state.workers[2].gpus, state.workers[0].gpus);
}

TEST_F(RunFakeTest, AFailingWorkerEndsTheRunWithItsCode) {
  clock_.At(seconds(3), [&] { ASSERT_TRUE(launcher_->Exit("actor/1", 7)); });
  EXPECT_EQ(Main(), 7);
  const formats::RunState state = State();
  EXPECT_EQ(state.phase, "failed");
  EXPECT_NE(state.message.find("worker actor/1 exited with code 7"), std::string::npos)
      << state.message;
  EXPECT_EQ(state.workers[1].id, "actor/1");
  EXPECT_EQ(state.workers[1].state, formats::WorkerState::kFailed);
  EXPECT_EQ(state.workers[0].state, formats::WorkerState::kStopped);
  EXPECT_TRUE(launcher_->Running().empty());
  EXPECT_LT(clock_.Elapsed(), seconds(3) + milliseconds(50));
}

TEST_F(RunFakeTest, EveryWorkerDoneEndsTheRunWithZero) {
  clock_.At(seconds(2), [&] {
    for (const std::string& id : launcher_->Running()) ASSERT_TRUE(launcher_->Exit(id, 0));
  });
  EXPECT_EQ(Main(), 0);
  const formats::RunState state = State();
  EXPECT_EQ(state.phase, "stopped");
  for (const formats::WorkerRecord& w : state.workers) {
    EXPECT_EQ(w.state, formats::WorkerState::kExited) << w.id;
    EXPECT_EQ(w.exit, "exited with code 0") << w.id;
  }
}

TEST_F(RunFakeTest, AWorkerNeverReadyFailsTheRunWithOneAtItsStartupTimeout) {
  probe_.ready = [](const ReadinessTarget&) { return false; };
  EXPECT_EQ(Main(), 1);
  EXPECT_GE(clock_.Elapsed(), seconds(20));
  EXPECT_LT(clock_.Elapsed(), seconds(21));
  const formats::RunState state = State();
  EXPECT_EQ(state.phase, "failed");
  EXPECT_NE(state.message.find("worker actor/0 was not ready within 20 s"), std::string::npos)
      << state.message;
  // The fork was never started; the actor's ranks were rolled back.
  EXPECT_EQ(Launched(), (std::vector<std::string>{"actor/0", "actor/1"}));
  EXPECT_TRUE(launcher_->Running().empty());
}

TEST_F(RunFakeTest, AnExperimentThatDoesNotFitStartsNothingAndReturnsThree) {
  std::string big = kExperiment;
  big.replace(big.find("gpu: 1"), 6, "gpu: 3");
  EXPECT_EQ(Main(big), 3);
  EXPECT_TRUE(launcher_->launched().empty());
}

}  // namespace
}  // namespace berth::run
