#include "run/events_log.h"

#include <fcntl.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "common/fd_io.h"

namespace berth::run {

std::string UtcNow() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char text[32];
  const size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &tm);
  char millis[8];
  std::snprintf(millis, sizeof millis, ".%03dZ", static_cast<int>(ms.count()));
  return std::string(text, n) + millis;
}

nlohmann::ordered_json EventJson(const RecoveryEvent& e, const std::string& time) {
  nlohmann::ordered_json j;
  j["time"] = time;
  j["kind"] = RecoveryEventName(e.kind);
  j["role"] = e.role;
  j["worker"] = e.worker;
  j["node"] = e.node;
  j["cause"] = e.cause;
  j["restarts"] = e.restarts;
  if (e.kind == RecoveryEvent::Kind::kRestartIn) j["wait_s"] = e.wait_s;
  return j;
}

std::string EventLine(const nlohmann::ordered_json& event) {
  // A worker's exit text is berth's own, but a cause may quote a log line.
  return event.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

Result<EventsLog> EventsLog::Open(int dir, const std::string& shown_dir) {
  BERTH_ASSIGN_OR_RETURN(
      common::UniqueFd fd,
      common::OpenFileBeneath(dir, kEventsName, common::WriteMode::kAppend, 0600, shown_dir));
  return EventsLog(std::move(fd));
}

Status EventsLog::Append(const nlohmann::ordered_json& event) {
  return common::WriteAll(fd_.get(), EventLine(event) + "\n", kEventsName);
}

}  // namespace berth::run
