// berth._core: the C++ Scheduler for Python (pybind11). A thin layer: data
// crosses as JSON text in the shapes of include/berth/scheduler_json.h and of
// the experiment file's role maps, so that this module, the control API and
// the YAML file describe a role and a worker the same way. The Python
// package (python/berth) builds AReaL's classes on top.
//
// Every call that waits (creating, getting, deleting, forking workers) runs
// without the GIL, so other Python threads go on; Ctrl-C during a wait is
// seen within the Scheduler's poll (the call is rolled back, then
// KeyboardInterrupt is raised). One mutex per Scheduler: the C++ Scheduler is
// driven by one thread at a time.

#include <Python.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "berth/experiment.h"
#include "berth/json.h"
#include "berth/local.h"
#include "berth/plan.h"
#include "berth/ports.h"
#include "berth/process.h"
#include "berth/recovery.h"
#include "berth/scheduler.h"
#include "berth/scheduler_json.h"

namespace py = pybind11;

namespace berth::python {
namespace {

PyObject* g_error = nullptr;  // berth._core.Error

// Raises berth._core.Error with the error as JSON. REQUIRES: the GIL.
[[noreturn]] void Raise(const Status& error, const std::optional<WorkerFailure>& failure = {}) {
  PyErr_SetString(g_error, ErrorToJson(error, failure).c_str());
  throw py::error_already_set();
}

// After a call made without the GIL: a KeyboardInterrupt (or another
// exception from a signal handler) seen while waiting wins over the call's
// own "interrupted" error.
void RaisePending() {
  if (PyErr_Occurred() != nullptr) throw py::error_already_set();
}

Result<std::optional<Quantity>> Declared(double value, const char* field) {
  if (value < 0) return std::optional<Quantity>();
  BERTH_ASSIGN_OR_RETURN(Quantity q, Quantity::FromDouble(value, field));
  return std::optional<Quantity>(q);
}

// This machine (with declared gpus/cpu/mem), or the nodes of a cluster in
// `berth place` format, each emulated on this machine.
Result<std::vector<NodeSpec>> ClusterNodes(const std::string& cluster_json, int gpus, double cpu,
                                           double mem, bool to_run) {
  if (cluster_json.empty()) {
    LocalResources overrides;
    if (gpus >= 0) overrides.gpus = gpus;
    BERTH_ASSIGN_OR_RETURN(overrides.cpu, Declared(cpu, "cpu"));
    BERTH_ASSIGN_OR_RETURN(overrides.mem_gib, Declared(mem, "mem"));
    BERTH_ASSIGN_OR_RETURN(NodeSpec node, LocalMachineNode(overrides));
    return std::vector<NodeSpec>{std::move(node)};
  }
  if (gpus >= 0 || cpu >= 0 || mem >= 0) {
    return InvalidSpec("cluster: give either a cluster or gpus/cpu/mem for this machine, not both");
  }
  BERTH_ASSIGN_OR_RETURN(std::vector<NodeSpec> nodes, ParseClusterJson(cluster_json, "cluster"));
  if (!to_run) return nodes;
  for (NodeSpec& n : nodes) n.labels.emplace("address", "127.0.0.1");
  if (!AllOnLoopback(nodes)) {
    return InvalidSpec(
        "cluster: every node must be this machine (address label 127.0.0.1 or none) to run "
        "workers: this module starts local processes, so a cluster here is a set of nodes "
        "emulated on this machine; plan other machines with berth.plan()");
  }
  return nodes;
}

class PyScheduler {
 public:
  PyScheduler(const std::string& log_dir, const std::string& cluster_json, int gpus, double cpu,
              double mem, double grace, const std::string& expected_roles_json,
              const std::string& supervisor, const std::string& groups_json) {
    Result<std::unique_ptr<Scheduler>> s = Make(log_dir, cluster_json, gpus, cpu, mem, grace,
                                                expected_roles_json, supervisor, groups_json);
    if (!s) Raise(s.error());
    s_ = std::move(s).value();
    // Roles' on_failure, applied when the caller looks (get_workers): this
    // module has no loop of its own. Its events are not kept.
    recovery_ = std::make_unique<Recovery>(*s_, Clock::System(), nullptr);
  }

  std::vector<std::string> CreateWorkers(const std::string& role_json) {
    return Ids([&](Scheduler& s) -> Result<std::vector<std::string>> {
      BERTH_ASSIGN_OR_RETURN(RoleSpec role, ParseRoleJson(role_json, "job"));
      return s.CreateWorkers(role);
    });
  }

  std::vector<std::string> ForkWorkers(const std::string& role, const std::string& target,
                                       const std::vector<std::string>& command) {
    return Ids([&](Scheduler& s) { return s.ForkWorkers(role, target, command); });
  }

  std::vector<std::string> ScaleWorkers(const std::string& role, int replicas,
                                        std::optional<double> timeout_s) {
    if (timeout_s && (!(*timeout_s > 0) || *timeout_s > 7 * 24 * 3600)) {
      Raise(InvalidSpec("scale_workers(\"" + role + "\"): timeout " + std::to_string(*timeout_s) +
                        " s; give None or above 0 to 604800 seconds"));
    }
    std::optional<std::chrono::milliseconds> timeout;
    if (timeout_s) timeout = std::chrono::milliseconds(static_cast<int64_t>(*timeout_s * 1000));
    return Ids([&](Scheduler& s) { return s.ScaleWorkers(role, replicas, timeout); });
  }

  std::string GetWorkers(const std::string& role, double timeout_s) {
    if (!(timeout_s >= 0) || timeout_s > 7 * 24 * 3600) {
      Raise(InvalidSpec("get_workers(\"" + role + "\"): timeout " + std::to_string(timeout_s) +
                        " s; give 0 to 604800 seconds"));
    }
    Result<std::vector<Worker>> r = InvalidSpec("");
    std::optional<WorkerFailure> failure;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(mu_);
      if (s_ == nullptr) {
        r = Closed();
      } else {
        // A failed unit with a restart due within the timeout is restarted
        // first; then the workers as get_workers has always given them.
        const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
        const Clock::TimePoint deadline = Clock::System().Now() + timeout;
        Status tended = recovery_->Tend(deadline);
        if (!tended.ok()) {
          r = tended;
        } else {
          const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
              deadline - Clock::System().Now());
          r = s_->GetWorkers(role, std::max(left, std::chrono::milliseconds(0)));
        }
        failure = s_->last_failure();
      }
    }
    RaisePending();
    if (!r) Raise(r.error(), failure);
    return WorkersJson(*r);
  }

  void DeleteWorkers(const std::optional<std::string>& role) {
    Status st;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(mu_);
      st = s_ == nullptr ? Closed() : s_->DeleteWorkers(role);
    }
    if (!st.ok()) Raise(st);
  }

  // These wait for mu_ without the GIL too: a call holding mu_ may need the
  // GIL for a moment (its interrupted() check).
  std::string Workers() {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(mu_);
    return s_ == nullptr ? "[]" : WorkersJson(s_->Workers());
  }
  // Every communication group as it is now, as JSON: [{"name", "version",
  // "world_size", "master_addr", "master_port", "members"}].
  std::string CommGroups() {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(mu_);
    if (s_ == nullptr) return "[]";
    Result<std::string> text = CommGroupsToJson(s_->CommGroups());
    if (!text) throw std::runtime_error(text.error().message());  // out of memory
    return std::move(text).value();
  }
  std::vector<std::string> Roles() {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(mu_);
    return s_ == nullptr ? std::vector<std::string>{} : s_->Roles();
  }
  std::vector<std::string> Warnings() {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(mu_);
    return s_ == nullptr ? std::vector<std::string>{} : s_->Warnings();
  }

  // Deletes every worker (in order), then stops the supervisor.
  void Close() {
    py::gil_scoped_release nogil;
    std::lock_guard<std::mutex> lock(mu_);
    recovery_.reset();
    s_.reset();
  }

 private:
  static Status Closed() { return InvalidSpec("this Scheduler is closed; make a new one"); }

  static Result<std::unique_ptr<Scheduler>> Make(const std::string& log_dir,
                                                 const std::string& cluster_json, int gpus,
                                                 double cpu, double mem, double grace,
                                                 const std::string& expected_roles_json,
                                                 const std::string& supervisor,
                                                 const std::string& groups_json) {
    if (!(grace >= 0) || grace > 600) {
      return InvalidSpec("grace: " + std::to_string(grace) + " s; give 0 to 600 seconds");
    }
    SchedulerOptions so;
    BERTH_ASSIGN_OR_RETURN(so.nodes, ClusterNodes(cluster_json, gpus, cpu, mem, true));
    nlohmann::json expected = nlohmann::json::parse(expected_roles_json, nullptr, false);
    if (!expected.is_array()) {
      return InvalidSpec("expected_roles: not a JSON array of role maps");
    }
    for (size_t i = 0; i < expected.size(); ++i) {
      BERTH_ASSIGN_OR_RETURN(
          RoleSpec r, ParseRoleJson(expected[i].dump(), "expected[" + std::to_string(i) + "]"));
      so.expected_roles.push_back(std::move(r));
    }
    if (!groups_json.empty() && groups_json != "[]") {
      BERTH_ASSIGN_OR_RETURN(so.comm_groups, ParseCommGroupsJson(groups_json, "groups"));
      // Checked against the roles to come: each member's role must be one
      // of expected_jobs.
      ExperimentSpec known;
      known.name = "python";
      known.roles = so.expected_roles;
      known.comm_groups = so.comm_groups;
      if (known.roles.empty()) {
        return InvalidSpec(
            "groups: name the member roles in expected_jobs too (berth checks each member's role "
            "and ranks against them)");
      }
      BERTH_RETURN_IF_ERROR(ValidateExperiment(known));
    }
    so.log_dir = log_dir;
    // A restarted unit waits for its GPUs' memory (NVML, where there is one).
    so.gpu_release_wait = std::chrono::seconds(30);
    so.grace = std::chrono::milliseconds(static_cast<int64_t>(grace * 1000));
    so.interrupted = [] {
      py::gil_scoped_acquire gil;
      return PyErr_CheckSignals() != 0;  // the exception stays set for RaisePending
    };
    SupervisorOptions sup;
    sup.exec_path = supervisor;
    BERTH_ASSIGN_OR_RETURN(std::unique_ptr<ProcessSupervisor> p, ProcessSupervisor::Start(sup));
    return Scheduler::Start(std::move(so), std::move(p));
  }

  template <typename Call>
  std::vector<std::string> Ids(Call call) {
    Result<std::vector<std::string>> r = InvalidSpec("");
    std::optional<WorkerFailure> failure;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(mu_);
      if (s_ == nullptr) {
        r = Closed();
      } else {
        r = call(*s_);
        failure = s_->last_failure();
      }
    }
    RaisePending();
    if (!r) Raise(r.error(), failure);
    return std::move(r).value();
  }

  // Fails only out of memory; pybind11 turns the exception into a Python one.
  static std::string WorkersJson(const std::vector<Worker>& workers) {
    Result<std::string> json = WorkersToJson(workers);
    if (!json) throw std::runtime_error(json.error().ToString());
    return std::move(json).value();
  }

  std::mutex mu_;
  std::unique_ptr<Scheduler> s_;
  std::unique_ptr<Recovery> recovery_;  // on s_; reset before it
};

// The dry run: the document of `berth plan --json`.
std::string Plan(const std::string& experiment_json, const std::string& cluster_json) {
  Result<std::string> out = [&]() -> Result<std::string> {
    BERTH_ASSIGN_OR_RETURN(ExperimentSpec e, ParseExperiment(experiment_json, "experiment"));
    const bool local = cluster_json.empty();
    std::vector<NodeSpec> nodes;
    if (local) {
      const int gpus = e.gpus ? *e.gpus : -1;
      const double cpu = e.cpu ? e.cpu->ToDouble() : -1;
      const double mem = e.mem_gib ? e.mem_gib->ToDouble() : -1;
      BERTH_ASSIGN_OR_RETURN(nodes, ClusterNodes("", gpus, cpu, mem, false));
    } else {
      BERTH_ASSIGN_OR_RETURN(nodes, ClusterNodes(cluster_json, -1, -1, -1, false));
    }
    BERTH_ASSIGN_OR_RETURN(berth::Plan plan,
                           MakePlan(e, nodes, local ? LocalFreePorts() : CountingPorts()));
    return PlanToJson(e.name, plan);
  }();
  if (!out) Raise(out.error());
  return std::move(out).value();
}

}  // namespace
}  // namespace berth::python

PYBIND11_MODULE(_core, m) {
  using berth::python::PyScheduler;
  m.doc() = "berth's C++ Scheduler; use the berth package, not this module";
  berth::python::g_error = PyErr_NewException("berth._core.Error", PyExc_Exception, nullptr);
  m.add_object("Error", py::handle(berth::python::g_error));
  py::class_<PyScheduler>(m, "Scheduler")
      .def(py::init<const std::string&, const std::string&, int, double, double, double,
                    const std::string&, const std::string&, const std::string&>(),
           py::arg("log_dir"), py::arg("cluster_json") = "", py::arg("gpus") = -1,
           py::arg("cpu") = -1.0, py::arg("mem") = -1.0, py::arg("grace") = 5.0,
           py::arg("expected_roles_json") = "[]", py::arg("supervisor") = "",
           py::arg("groups_json") = "[]")
      .def("comm_groups", &PyScheduler::CommGroups)
      .def("create_workers", &PyScheduler::CreateWorkers, py::arg("role_json"))
      .def("fork_workers", &PyScheduler::ForkWorkers, py::arg("role"), py::arg("target"),
           py::arg("command") = std::vector<std::string>{})
      .def("get_workers", &PyScheduler::GetWorkers, py::arg("role"), py::arg("timeout"))
      .def("scale_workers", &PyScheduler::ScaleWorkers, py::arg("role"), py::arg("replicas"),
           py::arg("timeout") = py::none())
      .def("delete_workers", &PyScheduler::DeleteWorkers, py::arg("role") = py::none())
      .def("workers", &PyScheduler::Workers)
      .def("roles", &PyScheduler::Roles)
      .def("warnings", &PyScheduler::Warnings)
      .def("close", &PyScheduler::Close);
  m.def("plan", &berth::python::Plan, py::arg("experiment_json"), py::arg("cluster_json") = "");
}
