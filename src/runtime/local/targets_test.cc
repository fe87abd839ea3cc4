#include "runtime/local/targets.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

namespace berth::runtime::local {
namespace {

ProcInfo P(pid_t pid, pid_t ppid, pid_t pgid, char state = 'S') {
  ProcInfo p;
  p.pid = pid;
  p.ppid = ppid;
  p.pgid = pgid;
  p.sid = pgid;
  p.state = state;
  return p;
}

// Supervisor 100 under berth 50. Worker A (pid 110, group 110) has a child
// 111 and a setsid'd grandchild 112 (group 112); 120 is A's double-forked
// grandchild, adopted by the supervisor, still in A's group; 130 is A's
// setsid'd orphan, adopted, found by its marker only; 113 is A's zombie.
// Worker B (140) has a child 141. Outside our subtree: 200 reuses A's group
// id (unrelated) and 300 carries A's marker (escaped through some daemon).
const std::vector<ProcInfo> kTable = {
    P(1, 0, 1),       P(50, 1, 50),          P(100, 50, 100),  P(110, 100, 110), P(111, 110, 110),
    P(112, 111, 112), P(113, 110, 110, 'Z'), P(120, 100, 110), P(130, 100, 130), P(140, 100, 140),
    P(141, 140, 140), P(200, 1, 110),        P(300, 1, 300)};

const std::map<pid_t, std::string> kMarkers = {{110, "tok/a"}, {111, "tok/a"}, {112, "tok/a"},
                                               {120, "tok/a"}, {130, "tok/a"}, {140, "tok/b"},
                                               {141, "tok/b"}, {300, "tok/a"}};

std::vector<pid_t> Select(const TargetQuery& q, std::vector<pid_t>* asked = nullptr) {
  auto marker_of = [&](pid_t pid) -> std::optional<std::string> {
    if (asked) asked->push_back(pid);
    auto it = kMarkers.find(pid);
    if (it == kMarkers.end()) return std::nullopt;
    return it->second;
  };
  std::vector<pid_t> out;
  for (const ProcInfo& p : SelectTargets(kTable, q, marker_of)) out.push_back(p.pid);
  std::sort(out.begin(), out.end());
  return out;
}

TargetQuery WorkerA() {
  TargetQuery q;
  q.self = 100;
  q.roots = {110};
  q.groups = {110};
  q.markers = {"tok/a"};
  return q;
}

TEST(SelectTargetsTest, WorkerTakesItsTreeGroupAndMarkedOrphans) {
  std::vector<pid_t> asked;
  EXPECT_EQ(Select(WorkerA(), &asked), (std::vector<pid_t>{110, 111, 112, 120, 130}));
  // Markers are read only inside our subtree, for what is not already chosen.
  std::sort(asked.begin(), asked.end());
  EXPECT_EQ(asked, (std::vector<pid_t>{130, 140, 141}));
}

TEST(SelectTargetsTest, ExitedWorkerStillHasItsGroupAndMarkers) {
  TargetQuery q = WorkerA();
  q.roots.clear();  // 110 was reaped
  EXPECT_EQ(Select(q), (std::vector<pid_t>{110, 111, 112, 120, 130}));
}

TEST(SelectTargetsTest, FullScanFindsEscapedMarkedProcesses) {
  TargetQuery q = WorkerA();
  q.full_scan = true;
  EXPECT_EQ(Select(q), (std::vector<pid_t>{110, 111, 112, 120, 130, 300}));
}

TEST(SelectTargetsTest, AllTakesOurWholeSubtree) {
  TargetQuery q;
  q.self = 100;
  q.all = true;
  q.marker_prefix = "tok/";
  EXPECT_EQ(Select(q), (std::vector<pid_t>{110, 111, 112, 120, 130, 140, 141}));
  q.full_scan = true;
  EXPECT_EQ(Select(q), (std::vector<pid_t>{110, 111, 112, 120, 130, 140, 141, 300}));
}

}  // namespace
}  // namespace berth::runtime::local
