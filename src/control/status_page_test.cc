// The status page (GET /, the one request served without the token) and the
// endpoints it reads: GET /v1/status?after_version, GET /v1/map, GET /v1/log.
// The page in a browser: tests/browser/status_page_test.py.

#include "control/status_page.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "control/control_server.h"
#include "control/control_test_util.h"

namespace berth::control {
namespace {

using Params = std::vector<std::pair<std::string, std::string>>;

class PageHandlers : public StubHandlers {
 public:
  ControlReply GetStatus() override {
    ++status_calls;
    return status;
  }
  ControlReply GetStatusAfter(int64_t after, double timeout_s) override {
    asked.emplace_back(after, timeout_s);
    return status;
  }
  ControlReply status;
  int status_calls = 0;
  std::vector<std::pair<int64_t, double>> asked;
};

ControlReply Get(ControlHandlers& h, const std::string& path, const Params& params = {}) {
  return RouteControlRequest(h, "GET", path, params, "");
}

std::string MessageOf(const ControlReply& r) {
  return r.body.contains("error") ? r.body["error"]["message"].get<std::string>() : "";
}

TEST(StatusPage, IsOneSelfContainedDocumentWithNoData) {
  const std::string html = StatusPageHtml();
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0U);
  EXPECT_NE(html.find("</html>"), std::string::npos);
  // Nothing from outside: no src= at all, the only href the empty icon.
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find("href="), html.find("href=\"data:,\""));
  EXPECT_EQ(html.find("href=", html.find("href=") + 1), std::string::npos);
  // It reads the token from the fragment and sends it as a bearer token.
  EXPECT_NE(html.find("location.hash"), std::string::npos);
  EXPECT_NE(html.find("'Authorization': 'Bearer ' + token"), std::string::npos);
  // Long polls, not a polling loop.
  EXPECT_NE(html.find("/v1/status?after_version="), std::string::npos);
  EXPECT_NE(html.find("/v1/events?after="), std::string::npos);
  EXPECT_EQ(html.find("innerHTML"), std::string::npos) << "data is set as text only";
}

TEST(StatusPage, ServedForGetSlashOnly) {
  HttpRequest req;
  req.method = "GET";
  req.path = "/";
  EXPECT_TRUE(IsStatusPageRequest(req));
  req.params = {{"x", "1"}};
  EXPECT_TRUE(IsStatusPageRequest(req));
  for (const auto& [method, path] :
       std::vector<std::pair<std::string, std::string>>{{"POST", "/"},
                                                        {"DELETE", "/"},
                                                        {"GET", "/index.html"},
                                                        {"GET", "//"},
                                                        {"GET", "/v1/status"},
                                                        {"GET", ""}}) {
    req.method = method;
    req.path = path;
    EXPECT_FALSE(IsStatusPageRequest(req)) << method << " " << path;
  }
  const HttpReply reply = StatusPageReply();
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.content_type, "text/html; charset=utf-8");
  const std::string text = RenderReply(reply);
  EXPECT_NE(text.find("Content-Type: text/html; charset=utf-8\r\n"), std::string::npos);
  EXPECT_EQ(text.find("application/json"), std::string::npos);
  EXPECT_NE(text.find("Content-Security-Policy: default-src 'none';"), std::string::npos);
  EXPECT_NE(text.find("connect-src 'self'"), std::string::npos);
  EXPECT_NE(text.find("Cache-Control: no-store\r\n"), std::string::npos);
  EXPECT_NE(text.find("Referrer-Policy: no-referrer\r\n"), std::string::npos);
}

TEST(StatusPageRoutes, StatusLongPollPassesVersionAndTimeout) {
  PageHandlers h;
  EXPECT_EQ(Get(h, "/v1/status").status, 200);
  EXPECT_EQ(h.status_calls, 1);
  EXPECT_TRUE(h.asked.empty());
  EXPECT_EQ(Get(h, "/v1/status", {{"after_version", "7"}, {"timeout", "25"}}).status, 200);
  EXPECT_EQ(Get(h, "/v1/status", {{"timeout", "0.5"}}).status, 200);
  EXPECT_EQ(h.asked, (std::vector<std::pair<int64_t, double>>{{7, 25}, {0, 0.5}}));
  for (const Params& bad : std::vector<Params>{{{"after_version", "-1"}},
                                               {{"after_version", "1.5"}},
                                               {{"timeout", "3601"}},
                                               {{"timeout", "x"}},
                                               {{"version", "1"}}}) {
    const ControlReply r = Get(h, "/v1/status", bad);
    EXPECT_EQ(r.status, 400) << bad[0].first;
    EXPECT_NE(MessageOf(r).find(bad[0].first), std::string::npos) << MessageOf(r);
  }
  EXPECT_EQ(h.asked.size(), 2U);
}

TEST(StatusPageRoutes, DefaultsAnswerWithoutWaitingOr404) {
  StubHandlers h;  // neither GetStatusAfter nor GetMap overridden
  EXPECT_EQ(Get(h, "/v1/status", {{"after_version", "3"}, {"timeout", "60"}}).status, 200);
  const ControlReply map = Get(h, "/v1/map");
  EXPECT_EQ(map.status, 404);
  EXPECT_NE(MessageOf(map).find("no placement map"), std::string::npos);
  EXPECT_EQ(Get(h, "/v1/map", {{"x", "1"}}).status, 400);
}

class LogFile {
 public:
  LogFile() {
    char tmpl[] = "/tmp/berth-status-page-test.XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    path_ = dir_ + "/w.log";
    std::ofstream out(path_);
    for (int i = 1; i <= 300; ++i) out << "line " << i << "\n";
  }
  ~LogFile() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

TEST(StatusPageRoutes, LogTailOfAWorkerNamedByTheStatus) {
  LogFile log;
  PageHandlers h;
  h.status.body["workers"] = nlohmann::ordered_json::array(
      {{{"id", "actor/0"}, {"log", log.path()}}, {{"id", "ref/0"}, {"log", ""}}});
  ControlReply r = Get(h, "/v1/log", {{"worker", "actor/0"}, {"lines", "3"}});
  ASSERT_EQ(r.status, 200) << r.body.dump();
  EXPECT_EQ(r.body["worker"], "actor/0");
  EXPECT_EQ(r.body["log"], log.path());
  const std::string tail = r.body["tail"].get<std::string>();
  EXPECT_NE(tail.find("line 300"), std::string::npos) << tail;
  EXPECT_NE(tail.find("line 298"), std::string::npos) << tail;
  EXPECT_EQ(tail.find("line 297"), std::string::npos) << tail;
  // Default: the last 100.
  r = Get(h, "/v1/log", {{"worker", "actor/0"}});
  EXPECT_EQ(r.body["lines"], kDefaultLogLines);
  EXPECT_NE(r.body["tail"].get<std::string>().find("line 201"), std::string::npos);
  // A worker not started yet has no log.
  r = Get(h, "/v1/log", {{"worker", "ref/0"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body["tail"].get<std::string>().find("has not started"), std::string::npos);
}

TEST(StatusPageRoutes, LogRefusesWhatIsNotAWorkerOfTheRun) {
  PageHandlers h;
  h.status.body["workers"] = nlohmann::ordered_json::array({{{"id", "a/0"}, {"log", "/x"}}});
  struct Case {
    Params params;
    int status;
    std::string expect;
  };
  for (const Case& c : std::vector<Case>{
           {{}, 400, "worker is missing"},
           {{{"worker", ""}}, 400, "worker is missing"},
           {{{"worker", "/etc/passwd"}}, 404, "no worker \"/etc/passwd\""},
           {{{"worker", "a/1"}}, 404, "GET /v1/status lists the ids"},
           {{{"worker", "a/0"}, {"lines", "0"}}, 400, "lines: \"0\""},
           {{{"worker", "a/0"}, {"lines", "1001"}}, 400, "from 1 to 1000"},
           {{{"worker", "a/0"}, {"path", "/etc/passwd"}}, 400, "\"path\""},
       }) {
    const ControlReply r = Get(h, "/v1/log", c.params);
    EXPECT_EQ(r.status, c.status) << c.expect;
    EXPECT_NE(MessageOf(r).find(c.expect), std::string::npos) << MessageOf(r);
  }
  // A status that fails is the answer.
  h.status = ErrorReply(Unavailable("berth is stopping"), std::nullopt, 503);
  EXPECT_EQ(Get(h, "/v1/log", {{"worker", "a/0"}}).status, 503);
}

std::string RawGet(int port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return "connect failed";
  }
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  (void)::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string reply;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) reply.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return reply;
}

TEST(StatusPageServer, PageWithoutTokenEverythingElseStill401) {
  char tmpl[] = "/tmp/berth-status-page-test.XXXXXX";
  const std::string dir = ::mkdtemp(tmpl);
  PageHandlers h;
  ControlServer server;
  ASSERT_TRUE(server.Start(dir, &h).ok());
  const std::string page = RawGet(server.port(), "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  EXPECT_EQ(page.rfind("HTTP/1.1 200", 0), 0U) << page.substr(0, 200);
  EXPECT_NE(page.find("Content-Type: text/html"), std::string::npos);
  EXPECT_NE(page.find("<!DOCTYPE html>"), std::string::npos);
  EXPECT_EQ(page.find(server.token()), std::string::npos);
  for (const char* target : {"/v1/status", "/v1/status?after_version=0&timeout=1", "/v1/map",
                             "/v1/log?worker=a/0", "/index.html", "/?"}) {
    const std::string r = RawGet(
        server.port(), "GET " + std::string(target) + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    const bool page_again = std::string(target) == "/?";
    EXPECT_EQ(r.rfind(page_again ? "HTTP/1.1 200" : "HTTP/1.1 401", 0), 0U) << target;
  }
  const std::string post = RawGet(server.port(), "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  EXPECT_EQ(post.rfind("HTTP/1.1 401", 0), 0U) << post.substr(0, 100);
  EXPECT_EQ(h.status_calls, 0);
  EXPECT_TRUE(h.asked.empty());
  server.Stop();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace berth::control
