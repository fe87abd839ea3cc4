// on_failure, restart and min_replicas of a role: read, defaulted, refused.

#include <gtest/gtest.h>

#include <string>

#include "formats/experiment_yaml.h"

namespace berth {
namespace {

// An experiment with a shared `train` role and a separate `rollout` role;
// `rollout_extra` and `train_extra` are lines added to each (indented 4).
std::string Yaml(const std::string& rollout_extra, const std::string& train_extra = "") {
  return R"(
name: demo
cluster: {gpus: 8}
roles:
  - name: train
    replicas: 2
    scheduling_spec: {gpu: 1, cmd: [t]}
)" + train_extra +
         R"(  - name: rollout
    replicas: 4
    placement: separate
    scheduling_spec: {gpu: 1, cmd: [r]}
)" + rollout_extra +
         R"(  - name: ref
    replicas: 2
    scheduling_strategy: {type: colocation, target: train}
    scheduling_spec: {cpu: 0, cmd: [f]}
)";
}

std::string ErrorOf(const std::string& yaml) {
  Result<ExperimentSpec> e = ParseExperiment(yaml, "x.yaml");
  return e ? std::string("parsed") : e.error().message();
}

TEST(ExperimentYamlPolicyTest, DefaultIsFail) {
  Result<ExperimentSpec> e = ParseExperiment(Yaml(""), "x.yaml");
  ASSERT_TRUE(e) << e.error().message();
  for (const RoleSpec& r : e->roles) {
    EXPECT_EQ(r.on_failure.action, FailurePolicy::Action::kFail) << r.name;
    EXPECT_FALSE(r.on_failure.min_replicas.has_value());
  }
}

TEST(ExperimentYamlPolicyTest, ReadsRestartBudgetAndMinReplicas) {
  Result<ExperimentSpec> e =
      ParseExperiment(Yaml("    on_failure: restart\n"
                           "    restart: {max_restarts: 5, window_s: 600, backoff_s: [0.5, 30]}\n"
                           "    min_replicas: 2\n",
                           "    on_failure: restart\n"),
                      "x.yaml");
  ASSERT_TRUE(e) << e.error().message();
  const FailurePolicy& f = e->roles[1].on_failure;
  EXPECT_EQ(f.action, FailurePolicy::Action::kRestart);
  EXPECT_EQ(f.max_restarts, 5);
  EXPECT_EQ(f.window_s, 600);
  EXPECT_EQ(f.backoff_initial_s, 0.5);
  EXPECT_EQ(f.backoff_max_s, 30);
  EXPECT_EQ(f.min_replicas, 2);
  // The gang keeps the default budget.
  EXPECT_EQ(e->roles[0].on_failure.action, FailurePolicy::Action::kRestart);
  EXPECT_EQ(e->roles[0].on_failure.max_restarts, FailurePolicy().max_restarts);
}

TEST(ExperimentYamlPolicyTest, DropOnInstances) {
  Result<ExperimentSpec> e = ParseExperiment(Yaml("    on_failure: drop\n"), "x.yaml");
  ASSERT_TRUE(e) << e.error().message();
  EXPECT_EQ(e->roles[1].on_failure.action, FailurePolicy::Action::kDrop);
}

TEST(ExperimentYamlPolicyTest, RefusesWhatCannotWork) {
  struct Case {
    std::string rollout, train, expect;
  };
  const Case cases[] = {
      {"    on_failure: retry\n", "",
       "x.yaml:12:17: roles[1].on_failure: unknown action \"retry\"; allowed: fail, restart, "
       "drop"},
      {"    restart: {max_restarts: 2}\n", "",
       "roles[1].restart: only applies to on_failure: restart"},
      {"    on_failure: restart\n    restart: {max_restarts: -1}\n", "",
       "roles[1].restart.max_restarts: "},
      {"    on_failure: restart\n    restart: {backoff_s: [1]}\n", "",
       "roles[1].restart.backoff_s: must be [first, most]"},
      {"    on_failure: restart\n    restart: {backoff_s: [10, 1]}\n", "",
       "roles[1].restart.backoff_s: the longest wait (1) is below the first (10)"},
      {"    on_failure: restart\n    restart: {window_s: .nan}\n", "", "roles[1].restart.window_s"},
      {"    on_failure: restart\n    restart: {every: 3}\n", "", "roles[1].restart: unknown key"},
      {"    min_replicas: 2\n", "",
       "roles[1].min_replicas: only applies to on_failure: restart or drop"},
      {"    on_failure: drop\n    min_replicas: 5\n", "",
       "roles[1].min_replicas: 5 is outside 1..replicas (4)"},
      {"", "    on_failure: drop\n", "roles[0].on_failure: drop would leave a shared role"},
      {"", "    on_failure: restart\n    min_replicas: 1\n",
       "roles[0].min_replicas: a shared role restarts as one gang"},
  };
  for (const Case& c : cases) {
    const std::string got = ErrorOf(Yaml(c.rollout, c.train));
    EXPECT_NE(got.find(c.expect), std::string::npos) << "want: " << c.expect << "\ngot: " << got;
  }
}

TEST(ExperimentYamlPolicyTest, ColocatedRoleFollowsItsTarget) {
  const std::string yaml = Yaml("") + "    on_failure: restart\n";
  EXPECT_NE(ErrorOf(yaml).find("roles[2].on_failure: a colocated role is restarted and dropped "
                               "with its target; give the policy to role \"train\""),
            std::string::npos)
      << ErrorOf(yaml);
}

}  // namespace
}  // namespace berth
