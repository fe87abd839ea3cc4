#pragma once
// events.jsonl in the run directory: what happened to workers while the run
// went on (a failure, a restart, a drop), one JSON object a line, appended
// and never rewritten, so `tail -f` and a reader after a crash both see
// whole lines in order. docs/experiment.md lists the fields.

#include <nlohmann/json.hpp>
#include <string>

#include "berth/recovery.h"
#include "berth/status.h"
#include "common/safe_open.h"

namespace berth::run {

inline constexpr char kEventsName[] = "events.jsonl";

class EventsLog {
 public:
  // Opens <dir>/events.jsonl for appending (created 0600; a planted link is
  // refused, naming it). `shown_dir`: the run directory as the user wrote it.
  static Result<EventsLog> Open(int dir, const std::string& shown_dir);

  // One line (EventJson), one write(2), so lines never interleave.
  Status Append(const nlohmann::ordered_json& event);

 private:
  explicit EventsLog(common::UniqueFd fd) : fd_(std::move(fd)) {}
  common::UniqueFd fd_;
};

// An event as events.jsonl and GET /v1/events have it: the time (`time`:
// ISO 8601, UTC, ms), the kind and the fields.
nlohmann::ordered_json EventJson(const RecoveryEvent& e, const std::string& time);
// Now, as EventJson's `time`.
std::string UtcNow();
// An event as one line of JSON, without its newline; bytes of a cause that
// are not UTF-8 are replaced rather than failing the line.
std::string EventLine(const nlohmann::ordered_json& event);

}  // namespace berth::run
