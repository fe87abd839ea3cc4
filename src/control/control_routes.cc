// Routes a control API request: the token check, method and path to a handler, replies and errors.

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/read_file.h"
#include "control/control_http.h"
#include "control/control_server.h"
#include "formats/experiment_yaml.h"
#include "scheduler/worker_json.h"

namespace berth::control {

const char* const kControlEndpoints =
    "GET /v1/status, GET /v1/roles, GET /v1/roles/<role>/workers?timeout=SECONDS, "
    "POST /v1/roles, POST /v1/roles/<role>/fork, POST /v1/roles/<role>/scale, "
    "DELETE /v1/roles/<role>, POST /v1/down, GET /v1/events?after=N&timeout=SECONDS, "
    "GET /v1/groups/<name>?after_version=V&timeout=SECONDS, "
    "GET /v1/status?after_version=V&timeout=SECONDS, GET /v1/map, "
    "GET /v1/log?worker=ID&lines=N, GET / (the status page)";

ControlReply ControlHandlers::GetEvents(int64_t /*after*/, double /*timeout_s*/) {
  return ErrorReply(NotFound("this server keeps no events"));
}

ControlReply ControlHandlers::GetGroup(const std::string& /*name*/, int64_t /*after_version*/,
                                       double /*timeout_s*/) {
  return ErrorReply(NotFound("this server keeps no communication groups"));
}

ControlReply ControlHandlers::GetStatusAfter(int64_t /*after_version*/, double /*timeout_s*/) {
  return GetStatus();
}

ControlReply ControlHandlers::GetMap() {
  return ErrorReply(NotFound("this server has no placement map"));
}

ControlReply ControlHandlers::ScaleRole(const std::string& /*role*/, int /*replicas*/,
                                        std::optional<double> /*timeout_s*/) {
  return ErrorReply(NotFound("this server cannot scale roles"));
}

int HttpStatusFor(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return 200;
    case ErrorCode::kInvalidSpec:
      return 400;
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kInfeasible:
    case ErrorCode::kUnavailable:
      return 409;
    case ErrorCode::kTimeout:
      return 504;
    case ErrorCode::kWorkerFailed:
    case ErrorCode::kBackend:
    case ErrorCode::kInternal:
      return 500;
  }
  return 500;
}

ControlReply ErrorReply(const Status& error, const std::optional<WorkerFailure>& failure,
                        std::optional<int> http_status) {
  ControlReply r;
  r.status = http_status ? *http_status : HttpStatusFor(error.code());
  r.body = {{"error", scheduler::ErrorJson(error, failure)}};
  return r;
}

ControlReply UnauthorizedReply(const std::string& message) {
  ControlReply r;
  r.status = 401;
  nlohmann::ordered_json e;
  e["code"] = "unauthorized";
  e["message"] = message;
  r.body = {{"error", e}};
  return r;
}

namespace {

ControlReply BadRequest(const std::string& message) { return ErrorReply(InvalidSpec(message)); }

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 1;  // after the leading '/'
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos) slash = path.size();
    parts.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return parts;
}

std::string JsonTypeName(const nlohmann::json& j) {
  if (j.is_object()) return "an object";
  if (j.is_array()) return "a list";
  if (j.is_string()) return "a string";
  if (j.is_boolean()) return "a boolean";
  if (j.is_number()) return "a number";
  if (j.is_null()) return "null";
  return "a value";
}

// The body as a JSON object, or the 400 that says what is wrong with it.
// Checked as UTF-8 first: JSON is UTF-8 text, and the parser's message would
// quote the bad bytes (which no JSON reply can carry).
Result<nlohmann::json> JsonObjectBody(const std::string& body, const std::string& example) {
  size_t first = body.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) {
    return InvalidSpec("request body is empty; send a JSON object, e.g. " + example);
  }
  if (std::optional<size_t> bad = FirstInvalidUtf8(body)) {
    char byte[8];
    std::snprintf(byte, sizeof byte, "0x%02x", static_cast<unsigned char>(body[*bad]));
    return InvalidSpec("request body is not UTF-8: byte " + std::string(byte) + " at offset " +
                       std::to_string(*bad) + " is not part of a UTF-8 character; send JSON " +
                       "text encoded as UTF-8");
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(body);
  } catch (const nlohmann::json::parse_error& e) {
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 5: ..."
    if (size_t at = what.find("] "); at != std::string::npos) what = what.substr(at + 2);
    return InvalidSpec("request body is not valid JSON: " + what);
  }
  if (!j.is_object()) {
    return InvalidSpec("request body is " + JsonTypeName(j) + "; send a JSON object, e.g. " +
                       example);
  }
  return j;
}

// Unknown query parameters are errors, as unknown keys of a file are.
std::optional<ControlReply> CheckParams(
    const std::vector<std::pair<std::string, std::string>>& params,
    const std::vector<std::string>& allowed, const std::string& endpoint) {
  for (const auto& [name, value] : params) {
    if (std::find(allowed.begin(), allowed.end(), name) != allowed.end()) continue;
    std::string names;
    for (const std::string& a : allowed) names += (names.empty() ? "" : ", ") + a;
    return BadRequest("query parameter \"" + name + "\" is not one of " + endpoint + "'s (" +
                      (names.empty() ? "it takes none" : "allowed: " + names) + ")");
  }
  return std::nullopt;
}

ControlReply Workers(ControlHandlers& h, const std::string& role,
                     const std::vector<std::pair<std::string, std::string>>& params) {
  if (auto bad = CheckParams(params, {"timeout"}, "GET /v1/roles/<role>/workers")) return *bad;
  double timeout = 0;
  for (const auto& [name, value] : params) {
    if (name != "timeout") continue;
    char* end = nullptr;
    errno = 0;
    const double t = value.empty() ? NAN : std::strtod(value.c_str(), &end);
    if (std::isnan(t) || end == nullptr || *end != '\0' || errno != 0 || t < 0 ||
        t > kMaxWorkersTimeout) {
      char max[32];
      std::snprintf(max, sizeof max, "%g", kMaxWorkersTimeout);
      return BadRequest("timeout: \"" + value + "\" is not a number of seconds from 0 to " + max +
                        " (default 0: the workers as they are now)");
    }
    timeout = t;
  }
  return h.GetWorkers(role, timeout);
}

// A query number in [lo, hi], or the 400 naming it.
std::optional<ControlReply> QueryNumber(const std::string& name, const std::string& value,
                                        double lo, double hi, bool whole, const std::string& hint,
                                        double* out) {
  char* end = nullptr;
  errno = 0;
  const double v = value.empty() ? NAN : std::strtod(value.c_str(), &end);
  if (std::isnan(v) || end == nullptr || *end != '\0' || errno != 0 || v < lo || v > hi ||
      (whole && v != std::floor(v))) {
    char range[64];
    std::snprintf(range, sizeof range, "%s from %g to %g", whole ? "a whole number" : "a number",
                  lo, hi);
    return BadRequest(name + ": \"" + value + "\" is not " + range + " (" + hint + ")");
  }
  *out = v;
  return std::nullopt;
}

ControlReply Events(ControlHandlers& h,
                    const std::vector<std::pair<std::string, std::string>>& params) {
  if (auto bad = CheckParams(params, {"after", "timeout"}, "GET /v1/events")) return *bad;
  double after = 0;
  double timeout = 0;
  for (const auto& [name, value] : params) {
    std::optional<ControlReply> bad =
        name == "after" ? QueryNumber(name, value, 0, 9e15, true,
                                      "the last seq seen; default 0: from the first", &after)
                        : QueryNumber(name, value, 0, kMaxWorkersTimeout, false,
                                      "seconds to wait for one; default 0", &timeout);
    if (bad) return *bad;
  }
  return h.GetEvents(static_cast<int64_t>(after), timeout);
}

ControlReply Group(ControlHandlers& h, const std::string& name,
                   const std::vector<std::pair<std::string, std::string>>& params) {
  if (auto bad = CheckParams(params, {"after_version", "timeout"}, "GET /v1/groups/<name>")) {
    return *bad;
  }
  double after = 0;
  double timeout = 0;
  for (const auto& [key, value] : params) {
    std::optional<ControlReply> bad =
        key == "after_version"
            ? QueryNumber(key, value, 0, 9e15, true,
                          "the last version seen; default 0: the group as it is now", &after)
            : QueryNumber(key, value, 0, kMaxWorkersTimeout, false,
                          "seconds to wait for a newer version; default 0", &timeout);
    if (bad) return *bad;
  }
  return h.GetGroup(name, static_cast<int64_t>(after), timeout);
}

ControlReply StatusAfter(ControlHandlers& h,
                         const std::vector<std::pair<std::string, std::string>>& params) {
  if (auto bad = CheckParams(params, {"after_version", "timeout"}, "GET /v1/status")) return *bad;
  if (params.empty()) return h.GetStatus();
  double after = 0;
  double timeout = 0;
  for (const auto& [key, value] : params) {
    std::optional<ControlReply> bad =
        key == "after_version"
            ? QueryNumber(key, value, 0, 9e15, true,
                          "the last version seen; default 0: the status as it is now", &after)
            : QueryNumber(key, value, 0, kMaxWorkersTimeout, false,
                          "seconds to wait for a newer version; default 0", &timeout);
    if (bad) return *bad;
  }
  return h.GetStatusAfter(static_cast<int64_t>(after), timeout);
}

// A worker's log tail, found through the status (its "log"): no handler of
// its own, and only a log berth names can be read.
ControlReply Log(ControlHandlers& h,
                 const std::vector<std::pair<std::string, std::string>>& params) {
  if (auto bad = CheckParams(params, {"worker", "lines"}, "GET /v1/log")) return *bad;
  std::optional<std::string> worker;
  double lines = kDefaultLogLines;
  for (const auto& [key, value] : params) {
    if (key == "worker") {
      worker = value;
      continue;
    }
    if (auto bad = QueryNumber(
            key, value, 1, kMaxLogLines, true,
            "how many of the last lines; default " + std::to_string(kDefaultLogLines), &lines)) {
      return *bad;
    }
  }
  if (!worker || worker->empty()) {
    return BadRequest(
        "worker is missing; name a worker id of GET /v1/status, e.g. "
        "/v1/log?worker=actor/0");
  }
  ControlReply status = h.GetStatus();
  if (status.status != 200) return status;
  const auto workers = status.body.find("workers");
  if (workers != status.body.end() && workers->is_array()) {
    for (const nlohmann::ordered_json& w : *workers) {
      if (!w.is_object() || w.value("id", std::string()) != *worker) continue;
      const std::string log = w.value("log", std::string());
      nlohmann::ordered_json body;
      body["worker"] = *worker;
      body["log"] = log;
      body["lines"] = static_cast<int>(lines);
      body["tail"] = log.empty() ? std::string("(no log yet: the worker has not started)")
                                 : common::LogTail(log, static_cast<size_t>(lines));
      return ControlReply{200, std::move(body)};
    }
  }
  return ErrorReply(
      NotFound("no worker \"" + *worker + "\" in this run; GET /v1/status lists the ids"));
}

ControlReply Create(ControlHandlers& h, const std::string& body) {
  const std::string example =
      "{\"name\": \"extra\", \"replicas\": 1, \"scheduling_spec\": {\"cmd\": [\"prog\"]}} "
      "(one element of an experiment's roles list, docs/experiment.md)";
  Result<nlohmann::json> j = JsonObjectBody(body, example);
  if (!j) return ErrorReply(j.error());
  // JSON is YAML: the experiment's own parser reads it, so a role reads the
  // same in a file and here, with the same messages.
  Result<RoleSpec> role = formats::ParseRoleYaml(body, "request body");
  if (!role) return ErrorReply(role.error());
  return h.CreateRole(*role);
}

ControlReply Fork(ControlHandlers& h, const std::string& role, const std::string& body) {
  const std::string example = R"({"target": "actor", "command": ["prog", "--flag"]})";
  Result<nlohmann::json> parsed = JsonObjectBody(body, example);
  if (!parsed) return ErrorReply(parsed.error());
  const nlohmann::json& j = *parsed;
  for (const auto& [key, value] : j.items()) {
    if (key != "target" && key != "command") {
      return BadRequest("fork: unknown key \"" + key + "\"; allowed: target, command");
    }
  }
  if (!j.contains("target")) {
    return BadRequest("fork: \"target\" is missing; name the role to fork, e.g. " + example);
  }
  const nlohmann::json& target = j.at("target");
  if (!target.is_string() || target.get<std::string>().empty()) {
    return BadRequest("fork: target: " + target.dump() +
                      " is not a role name; give the name of a role that has workers");
  }
  std::vector<std::string> command;
  if (j.contains("command")) {
    const nlohmann::json& c = j.at("command");
    if (!c.is_array() || c.empty()) {
      return BadRequest("fork: command: " + c.dump() +
                        " is not a non-empty list of strings; give the argv (no shell), or "
                        "leave command out to run the target's cmd");
    }
    for (size_t i = 0; i < c.size(); ++i) {
      if (!c[i].is_string()) {
        return BadRequest("fork: command[" + std::to_string(i) + "]: " + c[i].dump() +
                          " is not a string; the argv is a list of strings");
      }
      command.push_back(c[i].get<std::string>());
    }
  }
  return h.ForkRole(role, target.get<std::string>(), command);
}

ControlReply Scale(ControlHandlers& h, const std::string& role, const std::string& body) {
  const std::string example = R"({"replicas": 4, "timeout": 120})";
  Result<nlohmann::json> parsed = JsonObjectBody(body, example);
  if (!parsed) return ErrorReply(parsed.error());
  const nlohmann::json& j = *parsed;
  for (const auto& [key, value] : j.items()) {
    if (key != "replicas" && key != "timeout") {
      return BadRequest("scale: unknown key \"" + key + "\"; allowed: replicas, timeout");
    }
  }
  if (!j.contains("replicas")) {
    return BadRequest("scale: \"replicas\" is missing; give the number of instances, e.g. " +
                      example);
  }
  const nlohmann::json& n = j.at("replicas");
  if (!n.is_number_integer() || n.get<int64_t>() < 1 || n.get<int64_t>() > 65536) {
    return BadRequest("scale: replicas: " + n.dump() +
                      " is not a whole number of instances from 1 to 65536");
  }
  std::optional<double> timeout;
  if (j.contains("timeout")) {
    const nlohmann::json& t = j.at("timeout");
    if (!t.is_number() || !(t.get<double>() > 0) || t.get<double>() > 3600) {
      return BadRequest("scale: timeout: " + t.dump() +
                        " is not a number of seconds above 0 and at most 3600; leave it out to "
                        "wait each worker's startup timeout");
    }
    timeout = t.get<double>();
  }
  return h.ScaleRole(role, static_cast<int>(n.get<int64_t>()), timeout);
}

}  // namespace

ControlReply RouteControlRequest(ControlHandlers& h, const std::string& method,
                                 const std::string& path,
                                 const std::vector<std::pair<std::string, std::string>>& params,
                                 const std::string& body) {
  const std::vector<std::string> p =
      path.empty() || path[0] != '/' ? std::vector<std::string>{} : SplitPath(path);
  const bool v1 = !p.empty() && p[0] == "v1";
  const size_t n = p.size();
  const bool role_ok = n >= 3 && p[1] == "roles" && !p[2].empty();
  if (v1 && n == 2 && p[1] == "status" && method == "GET") return StatusAfter(h, params);
  if (v1 && n == 2 && p[1] == "map" && method == "GET") {
    if (auto bad = CheckParams(params, {}, "GET /v1/map")) return *bad;
    return h.GetMap();
  }
  if (v1 && n == 2 && p[1] == "log" && method == "GET") return Log(h, params);
  if (v1 && n == 2 && p[1] == "events" && method == "GET") return Events(h, params);
  if (v1 && n == 3 && p[1] == "groups" && !p[2].empty() && method == "GET") {
    return Group(h, p[2], params);
  }
  if (v1 && n == 2 && p[1] == "roles" && method == "GET") {
    if (auto bad = CheckParams(params, {}, "GET /v1/roles")) return *bad;
    return h.ListRoles();
  }
  if (v1 && n == 2 && p[1] == "roles" && method == "POST") {
    if (auto bad = CheckParams(params, {}, "POST /v1/roles")) return *bad;
    return Create(h, body);
  }
  if (v1 && n == 2 && p[1] == "down" && method == "POST") {
    if (auto bad = CheckParams(params, {}, "POST /v1/down")) return *bad;
    return h.Down();
  }
  if (v1 && role_ok && n == 3 && method == "DELETE") {
    if (auto bad = CheckParams(params, {}, "DELETE /v1/roles/<role>")) return *bad;
    return h.DeleteRole(p[2]);
  }
  if (v1 && role_ok && n == 4 && p[3] == "workers" && method == "GET") {
    return Workers(h, p[2], params);
  }
  if (v1 && role_ok && n == 4 && p[3] == "scale" && method == "POST") {
    if (auto bad = CheckParams(params, {}, "POST /v1/roles/<role>/scale")) return *bad;
    return Scale(h, p[2], body);
  }
  if (v1 && role_ok && n == 4 && p[3] == "fork" && method == "POST") {
    if (auto bad = CheckParams(params, {}, "POST /v1/roles/<role>/fork")) return *bad;
    return Fork(h, p[2], body);
  }
  return ErrorReply(
      NotFound("no endpoint " + method + " " + path + "; the endpoints: " + kControlEndpoints));
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // Every byte of the longer one is read whatever the contents; only the
  // lengths (not secret: a token is always 64 digits) change the time.
  const size_t n = std::max(a.size(), b.size());
  unsigned diff = a.size() == b.size() ? 0U : 1U;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned>(x ^ y);
  }
  // Through a volatile, so that the compiler cannot stop at the first difference.
  volatile unsigned result = diff;
  return result == 0;
}

std::optional<ControlReply> CheckAuthorization(const std::optional<std::string>& authorization,
                                               const std::string& token) {
  if (!authorization || authorization->empty()) {
    return UnauthorizedReply(
        "no Authorization header; send \"Authorization: Bearer <token>\" with the token from "
        "RUN_DIR/control.token");
  }
  // The header's bytes as sent: nothing decoded, trimmed or cut at a NUL.
  // Only the scheme's case is free (RFC 7235); the token is every byte
  // after the spaces that follow it.
  const std::string_view a(*authorization);
  const std::string_view scheme = "bearer";
  bool bearer = a.size() > scheme.size() && a[scheme.size()] == ' ';
  for (size_t i = 0; bearer && i < scheme.size(); ++i) {
    bearer = std::tolower(static_cast<unsigned char>(a[i])) == scheme[i];
  }
  if (!bearer) {
    return UnauthorizedReply(
        "the Authorization header is not \"Bearer <token>\"; send the token from "
        "RUN_DIR/control.token as a bearer token");
  }
  std::string_view given = a.substr(scheme.size());
  while (!given.empty() && given.front() == ' ') given.remove_prefix(1);
  if (token.empty() || !ConstantTimeEquals(given, token)) {
    return UnauthorizedReply(
        "wrong token; use the one in RUN_DIR/control.token of this run (it changes every time "
        "berth run starts)");
  }
  return std::nullopt;
}

}  // namespace berth::control
