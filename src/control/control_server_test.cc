#include "control/control_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <thread>

#include "berth/clock.h"
#include "berth/placement.h"
#include "control/control_client.h"

namespace berth::control {
namespace {

using std::chrono::milliseconds;

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/berth-control-test.XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream b;
  b << in.rdbuf();
  return b.str();
}

// Records what the routes asked for and answers 200 with what it saw.
class FakeHandlers : public ControlHandlers {
 public:
  std::atomic<int> calls{0};
  std::string last;  // "create extra", "workers actor 2.5", ...
  RoleSpec created;
  std::vector<std::string> command;
  std::optional<Status> create_error;  // CreateRole answers it when set

  ControlReply Answer(const std::string& what) {
    ++calls;
    last = what;
    ControlReply r;
    r.body["did"] = what;
    return r;
  }
  ControlReply GetStatus() override { return Answer("status"); }
  ControlReply ListRoles() override { return Answer("roles"); }
  ControlReply GetWorkers(const std::string& role, double timeout_s) override {
    std::ostringstream s;
    s << "workers " << role << " " << timeout_s;
    return Answer(s.str());
  }
  ControlReply CreateRole(const RoleSpec& role) override {
    created = role;
    if (create_error) {
      ++calls;
      return ErrorReply(*create_error);
    }
    return Answer("create " + role.name);
  }
  ControlReply ForkRole(const std::string& role, const std::string& target,
                        const std::vector<std::string>& cmd) override {
    command = cmd;
    return Answer("fork " + role + " " + target);
  }
  ControlReply DeleteRole(const std::string& role) override { return Answer("delete " + role); }
  ControlReply Down() override { return Answer("down"); }
};

std::string ErrorCodeOf(const ControlReply& r) {
  return r.body.contains("error") ? r.body["error"]["code"].get<std::string>() : "";
}
std::string ErrorMessageOf(const ControlReply& r) {
  return r.body.contains("error") ? r.body["error"]["message"].get<std::string>() : "";
}

const char* kRole = R"({"name": "extra", "replicas": 2, "placement": "separate",
  "scheduling_spec": {"cpu": 0.5, "ports": ["http"], "cmd": ["prog", "--port={BERTH_PORT_HTTP}"]},
  "readiness": {"http": {"port": "http", "path": "/health"}}, "startup_timeout": 12})";

// --- the token and its file ---

TEST(ControlToken, Is64HexDigitsAndNewEachTime) {
  Result<std::string> a = NewControlToken();
  Result<std::string> b = NewControlToken();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->size(), 64u);
  EXPECT_EQ(a->find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_NE(*a, *b);
}

TEST(ControlToken, FileIs0600WhateverTheUmask) {
  TempDir dir;
  const mode_t old = ::umask(0);  // the most permissive umask
  const std::string path = ControlTokenPath(dir.path());
  Status st = WriteControlToken(path, "abc123");
  ::umask(old);
  ASSERT_TRUE(st.ok()) << st.message();
  struct stat sb {};
  ASSERT_EQ(::lstat(path.c_str(), &sb), 0);
  EXPECT_TRUE(S_ISREG(sb.st_mode));
  EXPECT_EQ(sb.st_mode & 07777, 0600u);
  EXPECT_EQ(Slurp(path), "abc123\n");
}

TEST(ControlToken, RefusesAFileOrLinkAlreadyThere) {
  TempDir dir;
  const std::string path = ControlTokenPath(dir.path());
  ASSERT_TRUE(WriteControlToken(path, "first").ok());
  Status again = WriteControlToken(path, "second");
  EXPECT_FALSE(again.ok());
  EXPECT_NE(again.message().find("control.token"), std::string::npos) << again.message();
  EXPECT_EQ(Slurp(path), "first\n");
  // A symlink planted where the token goes is not followed.
  const std::string target = dir.path() + "/elsewhere";
  const std::string link = dir.path() + "/link.token";
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  EXPECT_FALSE(WriteControlToken(link, "x").ok());
  EXPECT_FALSE(std::filesystem::exists(target));
}

TEST(ControlToken, ConstantTimeEquals) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("abcdef", "abcdef"));
  EXPECT_FALSE(ConstantTimeEquals("abcdef", "abcdeg"));
  EXPECT_FALSE(ConstantTimeEquals("abcdef", "bbcdef"));
  EXPECT_FALSE(ConstantTimeEquals("abcdef", "abcde"));
  EXPECT_FALSE(ConstantTimeEquals("abcde", "abcdef"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
  // Bytes past the shorter one's end are compared too (no prefix match).
  EXPECT_FALSE(ConstantTimeEquals(std::string("ab\0", 3), "ab"));
}

TEST(ControlAuth, BearerTokenOnly) {
  const std::string token(64, 'a');
  EXPECT_FALSE(CheckAuthorization("Bearer " + token, token).has_value());
  EXPECT_FALSE(CheckAuthorization("bearer " + token, token).has_value());
  std::optional<ControlReply> none = CheckAuthorization(std::nullopt, token);
  ASSERT_TRUE(none.has_value());
  EXPECT_EQ(none->status, 401);
  EXPECT_EQ(ErrorCodeOf(*none), "unauthorized");
  EXPECT_NE(ErrorMessageOf(*none).find("control.token"), std::string::npos);
  for (const std::string& bad :
       std::vector<std::string>{"Bearer " + std::string(64, 'b'), "Bearer " + token + "x",
                                "Bearer ", "Basic " + token, token, "Bearer"}) {
    std::optional<ControlReply> r = CheckAuthorization(bad, token);
    ASSERT_TRUE(r.has_value()) << bad;
    EXPECT_EQ(r->status, 401) << bad;
  }
  // No token configured: nothing is accepted.
  EXPECT_TRUE(CheckAuthorization("Bearer ", "").has_value());
}

// --- errors ---

TEST(ControlErrors, HttpStatusPerCode) {
  EXPECT_EQ(HttpStatusFor(ErrorCode::kInvalidSpec), 400);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kInfeasible), 409);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kUnavailable), 409);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kWorkerFailed), 500);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kTimeout), 504);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kBackend), 500);
  EXPECT_EQ(HttpStatusFor(ErrorCode::kInternal), 500);
  ControlReply r = ErrorReply(WorkerFailed("worker a/0 exited"),
                              WorkerFailure{"a/0", 7, "exited with code 7", "boom\n"});
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(r.body["error"]["code"], "worker_failed");
  EXPECT_EQ(r.body["error"]["worker"], "a/0");
  EXPECT_EQ(r.body["error"]["exit_code"], 7);
  EXPECT_EQ(ErrorReply(Unavailable("busy"), std::nullopt, 503).status, 503);
}

// A role that does not fit, as the role planner reports it: one line, and
// the engine's explanation attached.
Status NotPlaced() {
  PlacementEngine engine;
  for (const char* name : {"n0", "n1"}) {
    ResourceSet r;
    r.Set(kGpu, Quantity::Whole(8));
    EXPECT_TRUE(engine.AddNode({name, r, {}}).ok());
  }
  ResourceSet huge;
  huge.Set(kGpu, Quantity::Whole(16));
  EXPECT_TRUE(engine.CreateGroup({"huge", Strategy::kPack, {huge}}).has_value());
  std::optional<Explanation> why = engine.Explain("huge");
  EXPECT_TRUE(why.has_value());
  return Infeasible("create_workers(\"huge\"): group \"huge\" is not placed (INFEASIBLE): " +
                    why->reason)
      .WithExplanation(std::make_shared<const Explanation>(*why));
}

TEST(ControlErrors, APlacementErrorCarriesTheExplanation) {
  ControlReply r = ErrorReply(NotPlaced());
  EXPECT_EQ(r.status, 409);
  const nlohmann::ordered_json& e = r.body["error"];
  EXPECT_EQ(e["code"], "infeasible");
  // The message is the text people read: the line, then the per-node lines.
  const std::string message = e["message"].get<std::string>();
  EXPECT_NE(message.find("is not placed (INFEASIBLE): bundle 0 needs GPU 16"), std::string::npos)
      << message;
  EXPECT_NE(message.find("\n    n1  never_fits  bundle 0: GPU needs 16, has 8"), std::string::npos)
      << message;
  // The data, as `berth place --json` writes a group's "explain".
  ASSERT_TRUE(e.contains("explain")) << r.body.dump();
  const nlohmann::ordered_json& x = e["explain"];
  EXPECT_EQ(x["group"], "huge");
  EXPECT_EQ(x["reason_code"], "bundle_too_large");
  EXPECT_EQ(x["hint"], "lower it, or add a node with GPU 16 or more");
  EXPECT_EQ(x["bundle"], 0);
  EXPECT_EQ(x["node"], "n0");
  EXPECT_EQ(x["resource"], "GPU");
  EXPECT_EQ(x["need"], 16);
  EXPECT_EQ(x["have"], 8);
  EXPECT_EQ(x["never_fits"], 2);
  ASSERT_EQ(x["nodes"].size(), 2u);
  EXPECT_EQ(x["nodes"][1]["node"], "n1");
  EXPECT_EQ(x["nodes"][1]["verdict"], "never_fits");
  // Other errors have none.
  EXPECT_FALSE(ErrorReply(InvalidSpec("bad")).body["error"].contains("explain"));
}

// --- routing (no sockets) ---

ControlReply Route(FakeHandlers& h, const std::string& method, const std::string& path,
                   const std::string& body = "",
                   std::vector<std::pair<std::string, std::string>> params = {}) {
  return RouteControlRequest(h, method, path, params, body);
}

TEST(ControlRoutes, EachEndpointReachesItsHandler) {
  FakeHandlers h;
  EXPECT_EQ(Route(h, "GET", "/v1/status").status, 200);
  EXPECT_EQ(h.last, "status");
  EXPECT_EQ(Route(h, "GET", "/v1/roles").status, 200);
  EXPECT_EQ(h.last, "roles");
  EXPECT_EQ(Route(h, "GET", "/v1/roles/actor/workers").status, 200);
  EXPECT_EQ(h.last, "workers actor 0");
  EXPECT_EQ(Route(h, "GET", "/v1/roles/actor/workers", "", {{"timeout", "2.5"}}).status, 200);
  EXPECT_EQ(h.last, "workers actor 2.5");
  ControlReply created = Route(h, "POST", "/v1/roles", kRole);
  EXPECT_EQ(created.status, 200) << created.body.dump();
  EXPECT_EQ(h.last, "create extra");
  EXPECT_EQ(h.created.replicas, 2);
  EXPECT_EQ(h.created.startup_timeout_s, 12);
  EXPECT_EQ(Route(h, "POST", "/v1/roles/ref2/fork", R"({"target": "actor"})").status, 200);
  EXPECT_EQ(h.last, "fork ref2 actor");
  EXPECT_TRUE(h.command.empty());
  EXPECT_EQ(
      Route(h, "POST", "/v1/roles/ref2/fork", R"({"target": "actor", "command": ["prog", "--x"]})")
          .status,
      200);
  EXPECT_EQ(h.command, (std::vector<std::string>{"prog", "--x"}));
  EXPECT_EQ(Route(h, "DELETE", "/v1/roles/extra").status, 200);
  EXPECT_EQ(h.last, "delete extra");
  EXPECT_EQ(Route(h, "POST", "/v1/down").status, 200);
  EXPECT_EQ(h.last, "down");
  EXPECT_EQ(h.calls.load(), 9);
}

TEST(ControlRoutes, UnknownPathOrMethodIs404ListingTheEndpoints) {
  FakeHandlers h;
  for (const auto& [method, path] :
       std::vector<std::pair<std::string, std::string>>{{"GET", "/"},
                                                        {"GET", "/v1/nope"},
                                                        {"GET", "/v2/status"},
                                                        {"GET", "/v1/status/"},
                                                        {"GET", "/v1/down"},
                                                        {"POST", "/v1/status"},
                                                        {"PUT", "/v1/roles"},
                                                        {"GET", "/v1/roles//workers"},
                                                        {"DELETE", "/v1/roles"},
                                                        {"GET", "/v1/roles/a/b/c"},
                                                        {"GET", "relative"}}) {
    ControlReply r = Route(h, method, path);
    EXPECT_EQ(r.status, 404) << method << " " << path;
    EXPECT_EQ(ErrorCodeOf(r), "not_found");
    EXPECT_NE(ErrorMessageOf(r).find("GET /v1/status"), std::string::npos) << ErrorMessageOf(r);
    EXPECT_NE(ErrorMessageOf(r).find("POST /v1/down"), std::string::npos);
  }
  EXPECT_EQ(h.calls.load(), 0);
}

TEST(ControlRoutes, BadBodiesAre400NamingWhatIsWrong) {
  FakeHandlers h;
  struct Case {
    std::string path, body, want;
  };
  for (const Case& c : std::vector<Case>{
           {"/v1/roles", "", "empty"},
           {"/v1/roles", "{\"name\": ", "not valid JSON"},
           {"/v1/roles", "[1, 2]", "a list"},
           {"/v1/roles", "\"actor\"", "a string"},
           {"/v1/roles", R"({"name": "x", "replicas": 1, "colour": "red",
              "scheduling_spec": {"cmd": ["a"]}})",
            "colour"},
           {"/v1/roles", R"({"name": "x", "replicas": "2", "scheduling_spec": {"cmd": ["a"]}})",
            "replicas"},
           {"/v1/roles/f/fork", "not json", "not valid JSON"},
           {"/v1/roles/f/fork", "{}", "target"},
           {"/v1/roles/f/fork", R"({"target": 3})", "target"},
           {"/v1/roles/f/fork", R"({"target": "a", "command": "prog --x"})", "command"},
           {"/v1/roles/f/fork", R"({"target": "a", "command": []})", "command"},
           {"/v1/roles/f/fork", R"({"target": "a", "command": ["p", 2]})", "command[1]"},
           {"/v1/roles/f/fork", R"({"target": "a", "cmd": ["p"]})", "cmd"}}) {
    ControlReply r = Route(h, "POST", c.path, c.body);
    EXPECT_EQ(r.status, 400) << c.body;
    EXPECT_EQ(ErrorCodeOf(r), "invalid_spec") << c.body;
    EXPECT_NE(ErrorMessageOf(r).find(c.want), std::string::npos)
        << c.body << " -> " << ErrorMessageOf(r);
  }
  EXPECT_EQ(h.calls.load(), 0);
}

TEST(ControlRoutes, BadQueryIs400) {
  FakeHandlers h;
  for (const std::string t : {"-1", "abc", "", "1e9", "nan", "inf", "3601", "2s"}) {
    ControlReply r = Route(h, "GET", "/v1/roles/actor/workers", "", {{"timeout", t}});
    EXPECT_EQ(r.status, 400) << t;
    EXPECT_NE(ErrorMessageOf(r).find("timeout"), std::string::npos) << ErrorMessageOf(r);
  }
  ControlReply r = Route(h, "GET", "/v1/roles/actor/workers", "", {{"wait", "1"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(ErrorMessageOf(r).find("\"wait\""), std::string::npos);
  EXPECT_EQ(Route(h, "GET", "/v1/status", "", {{"x", "1"}}).status, 400);
  EXPECT_EQ(h.calls.load(), 0);
}

// --- the mailbox ---

TEST(ControlMailbox, RunsJobsOnTheDrainingThread) {
  ControlMailbox box;
  std::thread::id ran_on;
  std::thread caller([&] {
    ControlReply r = box.Call(
        [&] {
          ran_on = std::this_thread::get_id();
          return ControlReply{201, {}};
        },
        milliseconds(5000));
    EXPECT_EQ(r.status, 201);
  });
  ASSERT_TRUE(Clock::System().WaitUntil(Clock::System().Now() + milliseconds(5000), milliseconds(1),
                                        [&] { return box.queued() > 0; }));
  EXPECT_EQ(box.Drain(), 1u);
  caller.join();
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

TEST(ControlMailbox, AJobNotTakenInTimeIs503AndNeverRuns) {
  ControlMailbox box([] { return std::string("berth is still starting"); });
  bool ran = false;
  ControlReply r = box.Call(
      [&] {
        ran = true;
        return ControlReply{};
      },
      milliseconds(50));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(ErrorCodeOf(r), "unavailable");
  EXPECT_NE(ErrorMessageOf(r).find("still starting"), std::string::npos) << ErrorMessageOf(r);
  EXPECT_EQ(box.queued(), 0u);
  EXPECT_EQ(box.Drain(), 0u);
  EXPECT_FALSE(ran);
}

TEST(ControlMailbox, CloseAnswersQueuedAndLaterCalls) {
  ControlMailbox box;
  std::thread caller([&] {
    ControlReply r = box.Call([] { return ControlReply{}; }, milliseconds(10000));
    EXPECT_EQ(r.status, 503);
    EXPECT_NE(ErrorMessageOf(r).find("stopping"), std::string::npos);
  });
  ASSERT_TRUE(Clock::System().WaitUntil(Clock::System().Now() + milliseconds(5000), milliseconds(1),
                                        [&] { return box.queued() > 0; }));
  box.Close("berth is stopping");
  caller.join();
  EXPECT_EQ(box.Call([] { return ControlReply{}; }, milliseconds(10)).status, 503);
}

// --- the server, over HTTP ---

class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Status st = server_.Start(dir_.path(), &fake_);
    ASSERT_TRUE(st.ok()) << st.message();
  }
  Result<ControlResponse> Call(const std::string& method, const std::string& path,
                               const std::string& body = "", std::string token = "<right>") {
    if (token == "<right>") token = server_.token();
    return ControlCall(server_.port(), token, method, path, body, milliseconds(5000));
  }

  TempDir dir_;
  FakeHandlers fake_;
  ControlServer server_;
};

TEST_F(ControlServerTest, WritesTokenAndAddressFiles) {
  struct stat sb {};
  ASSERT_EQ(::lstat(ControlTokenPath(dir_.path()).c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 07777, 0600u);
  EXPECT_EQ(Slurp(ControlTokenPath(dir_.path())), server_.token() + "\n");
  Result<ControlAddress> addr = ReadControlAddress(dir_.path());
  ASSERT_TRUE(addr) << addr.error().message();
  EXPECT_EQ(addr->port, server_.port());
  EXPECT_EQ(addr->pid, ::getpid());
  EXPECT_EQ(addr->url, "http://127.0.0.1:" + std::to_string(server_.port()));
  Result<std::string> token = ReadControlToken(dir_.path());
  ASSERT_TRUE(token);
  EXPECT_EQ(*token, server_.token());
}

TEST_F(ControlServerTest, NoTokenOrWrongTokenIs401AndNothingRuns) {
  for (const std::string& token : {std::string(), std::string(64, '0'), server_.token() + "0"}) {
    for (const auto& [method, path] :
         std::vector<std::pair<std::string, std::string>>{{"GET", "/v1/status"},
                                                          {"POST", "/v1/down"},
                                                          {"DELETE", "/v1/roles/actor"},
                                                          {"GET", "/nope"}}) {
      Result<ControlResponse> r = Call(method, path, method == "POST" ? "{}" : "", token);
      ASSERT_TRUE(r) << r.error().message();
      EXPECT_EQ(r->status, 401) << method << " " << path;
      EXPECT_EQ(r->body["error"]["code"], "unauthorized");
    }
  }
  EXPECT_EQ(fake_.calls.load(), 0);
}

TEST_F(ControlServerTest, RightTokenReachesTheHandlers) {
  Result<ControlResponse> r = Call("GET", "/v1/status");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body["did"], "status");
  r = Call("GET", "/v1/roles/actor/workers?timeout=1.5");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body["did"], "workers actor 1.5");
  r = Call("POST", "/v1/roles", kRole);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body.dump();
  EXPECT_EQ(r->body["did"], "create extra");
  r = Call("DELETE", "/v1/roles/extra");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body["did"], "delete extra");
  r = Call("POST", "/v1/down");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body["did"], "down");
  EXPECT_EQ(fake_.calls.load(), 5);
}

TEST_F(ControlServerTest, APlacementErrorArrivesWithItsExplanation) {
  fake_.create_error = NotPlaced();
  Result<ControlResponse> r = Call("POST", "/v1/roles", kRole);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->status, 409);
  EXPECT_EQ(r->body["error"]["code"], "infeasible");
  EXPECT_EQ(r->body["error"]["explain"]["group"], "huge");
  EXPECT_EQ(r->body["error"]["explain"]["reason_code"], "bundle_too_large");
  EXPECT_EQ(r->body["error"]["explain"]["nodes"][0]["verdict"], "never_fits");
}

TEST_F(ControlServerTest, UnknownPathBadJsonAndHugeBodies) {
  Result<ControlResponse> r = Call("GET", "/v1/nothing");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(r->error_message().find("GET /v1/roles/<role>/workers"), std::string::npos);
  r = Call("POST", "/v1/roles", "{\"name\": \"x\",");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(r->body["error"]["code"], "invalid_spec");
  EXPECT_NE(r->error_message().find("not valid JSON"), std::string::npos) << r->error_message();
  r = Call("POST", "/v1/roles", std::string(kMaxControlBody + 1, ' '));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_NE(r->error_message().find("1 MiB"), std::string::npos) << r->body.dump();
  EXPECT_EQ(fake_.calls.load(), 0);
}

// What `curl -X POST URL` sends: no Content-Length, no body.
std::string RawRequest(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "connect failed";
  }
  timeval tv{3, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  (void)::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string reply;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) reply.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return reply;
}

TEST_F(ControlServerTest, APostWithoutContentLengthIsServedAtOnce) {
  const auto start = std::chrono::steady_clock::now();
  const std::string reply = RawRequest(
      server_.port(), "POST /v1/down HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
                          server_.token() + "\r\n\r\n");
  EXPECT_EQ(reply.rfind("HTTP/1.1 200", 0), 0u) << reply;
  EXPECT_NE(reply.find("\"did\":\"down\""), std::string::npos) << reply;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  const std::string denied =
      RawRequest(server_.port(), "DELETE /v1/roles/a HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  EXPECT_EQ(denied.rfind("HTTP/1.1 401", 0), 0u) << denied;
  EXPECT_EQ(fake_.calls.load(), 1);
}

TEST_F(ControlServerTest, StopRemovesBothFilesAndStopsServing) {
  const int port = server_.port();
  server_.Stop();
  EXPECT_FALSE(std::filesystem::exists(ControlTokenPath(dir_.path())));
  EXPECT_FALSE(std::filesystem::exists(ControlAddressPath(dir_.path())));
  Result<ControlResponse> r = ControlCall(port, "x", "GET", "/v1/status", "", milliseconds(1000));
  EXPECT_FALSE(r);
  server_.Stop();  // idempotent
}

TEST(ControlServerStart, ReplacesAStaleToken) {
  TempDir dir;
  ASSERT_TRUE(WriteControlToken(ControlTokenPath(dir.path()), "stale").ok());
  FakeHandlers fake;
  ControlServer server;
  ASSERT_TRUE(server.Start(dir.path(), &fake).ok());
  EXPECT_EQ(Slurp(ControlTokenPath(dir.path())), server.token() + "\n");
  server.Stop();
}

TEST(ControlClient, ClearErrorsWhenBerthIsNotThere) {
  TempDir dir;
  Result<ControlResponse> r =
      ControlRequest(dir.path(), "GET", "/v1/status", "", milliseconds(1000));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kNotFound);
  // An address left by a berth that is gone (killed with SIGKILL).
  {
    std::ofstream(ControlAddressPath(dir.path()))
        << R"({"url": "http://127.0.0.1:1", "port": 1, "pid": 999999999})";
  }
  r = ControlRequest(dir.path(), "GET", "/v1/status", "", milliseconds(1000));
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message().find("berth is not running (pid 999999999 gone)"),
            std::string::npos)
      << r.error().message();
  // A token this user may not read.
  if (::geteuid() != 0) {
    ASSERT_TRUE(WriteControlToken(ControlTokenPath(dir.path()), "t").ok());
    ::chmod(ControlTokenPath(dir.path()).c_str(), 0);
    Result<std::string> t = ReadControlToken(dir.path());
    ASSERT_FALSE(t);
    EXPECT_NE(t.error().message().find("permission denied — run as the user who started berth"),
              std::string::npos)
        << t.error().message();
  }
}

}  // namespace
}  // namespace berth::control
