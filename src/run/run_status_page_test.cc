// What berth run serves the status page (docs/control-api.md, "The status
// page"), on fakes as run_fake_test.cc: the status's version and uptimes, a
// long poll that answers when a worker fails, and the plan's map.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "berth/clock.h"
#include "control/control_client.h"
#include "control/control_http.h"
#include "run/run.h"
#include "testing/fake_clock.h"
#include "testing/fake_launcher.h"
#include "testing/fake_probe.h"

namespace berth::run {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kExperiment[] = R"(name: page
cluster: {gpus: 4, cpu: 8, mem: 16}
roles:
  - name: actor
    replicas: 2
    placement: shared
    scheduling_spec: {cpu: 1, gpu: 1, mem: 1, ports: [http], cmd: [/opt/trainer]}
    readiness: {http: {port: http, path: /health}}
  - name: ref
    replicas: 2
    scheduling_strategy: {type: colocation, target: actor, fork: true}
    scheduling_spec: {cpu: 1, mem: 1, cmd: [/opt/ref]}
    readiness: none
)";

class RunStatusPageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("berth-run-page-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    std::ofstream(dir_ / "experiment.yaml") << kExperiment;
  }
  void TearDown() override {
    run_.reset();
    std::filesystem::remove_all(dir_);
  }
  int Main() {
    RunOptions options;
    options.experiment_path = (dir_ / "experiment.yaml").string();
    options.run_dir = run_dir();
    options.backend = "local";
    options.status_table = false;
    auto launcher = std::make_unique<testing::FakeLauncher>(clock_);
    launcher_ = launcher.get();
    run_ = std::make_unique<run::Run>(options, RunSeams{.launcher = std::move(launcher),
                                                        .stop = std::make_unique<StopRequest>(),
                                                        .clock = &clock_,
                                                        .probe = &probe_,
                                                        .slurm_commands = nullptr,
                                                        .cgroup = "",
                                                        .no_cgroup = ""});
    return run_->Main();
  }
  std::string run_dir() const { return (dir_ / "run").string(); }
  Result<control::ControlResponse> Get(const std::string& path) {
    return control::ControlRequest(run_dir(), "GET", path, "", milliseconds(20000));
  }

  testing::FakeClock clock_;
  testing::FakeProbe probe_;
  testing::FakeLauncher* launcher_ = nullptr;
  std::unique_ptr<run::Run> run_;
  std::filesystem::path dir_;
};

// GET /v1/status?after_version=V&timeout=30 over a socket of its own;
// `sent` is set once the request is written.
Result<nlohmann::json> LongPoll(int port, const std::string& token, int64_t after,
                                std::atomic<bool>* sent) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return Unavailable("connect failed");
  }
  timeval tv{30, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const std::string request = "GET /v1/status?after_version=" + std::to_string(after) +
                              "&timeout=30 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
                              token + "\r\n\r\n";
  (void)::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  sent->store(true);
  control::HttpReplyReader reader(1 << 20);
  char buf[4096];
  ssize_t n = 0;
  control::HttpReplyReader::State st = control::HttpReplyReader::State::kMore;
  while (st == control::HttpReplyReader::State::kMore && (n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
    st = reader.Feed(std::string_view(buf, static_cast<size_t>(n)));
  }
  if (st == control::HttpReplyReader::State::kMore) st = reader.Finish();
  ::close(fd);
  if (st != control::HttpReplyReader::State::kDone || reader.status() != 200) {
    return Unavailable("long poll: " + std::to_string(reader.status()) + " " + reader.error() +
                       reader.body());
  }
  return nlohmann::json::parse(reader.body());
}

TEST_F(RunStatusPageTest, VersionUptimeMapAndALongPollThatAnswersAFailure) {
  std::thread poll;
  std::atomic<bool> sent{false};
  Result<nlohmann::json> polled = Internal("not asked");
  int64_t version = -1;
  clock_.At(seconds(2), [&] {
    Result<control::ControlResponse> status = Get("/v1/status");
    ASSERT_TRUE(status && status->status == 200);
    version = status->body.at("version").get<int64_t>();
    EXPECT_GT(version, 0);
    ASSERT_EQ(status->body["workers"].size(), 4U);
    for (const auto& w : status->body["workers"]) {
      EXPECT_EQ(w["state"], "ready") << w.dump();
      EXPECT_GE(w.value("uptime_s", -1.0), 0.0) << w.dump();
    }
    // Nothing changes: the long poll waits its timeout, then the same version.
    const auto asked = std::chrono::steady_clock::now();
    Result<control::ControlResponse> same =
        Get("/v1/status?after_version=" + std::to_string(version) + "&timeout=0.2");
    ASSERT_TRUE(same && same->status == 200);
    EXPECT_EQ(same->body["version"], version);
    EXPECT_GE(std::chrono::steady_clock::now() - asked, milliseconds(190));

    Result<control::ControlResponse> map = Get("/v1/map");
    ASSERT_TRUE(map && map->status == 200);
    const std::string html = map->body["html"].get<std::string>();
    for (const char* id : {"actor/0", "actor/1", "ref/0", "ref/1"}) {
      EXPECT_NE(html.find(std::string("data-worker=\"") + id + "\""), std::string::npos) << id;
    }
    // Asked now, answered once berth publishes the failure below.
    const std::string token = control::ReadControlToken(run_dir()).value();
    const int port = control::ReadControlAddress(run_dir()).value().port;
    poll = std::thread([&, v = version, token, port] { polled = LongPoll(port, token, v, &sent); });
    // (One callback: At replaces an earlier one.) The poll's request is sent, and read by the
    // server before this one is answered (its poll thread reads every ready socket in a round).
    (void)berth::Clock::System().WaitUntil(berth::Clock::System().Now() + seconds(10),
                                           milliseconds(1), [&] { return sent.load(); });
    ASSERT_TRUE(Get("/v1/roles"));
    ASSERT_TRUE(launcher_->Exit("actor/1", 7));
  });
  EXPECT_EQ(Main(), 7);
  poll.join();
  ASSERT_TRUE(polled) << polled.error().message();
  EXPECT_GT(polled->at("version").get<int64_t>(), version);
  EXPECT_NE(polled->at("workers")[1]["state"], "ready") << polled->dump();
}

}  // namespace
}  // namespace berth::run
