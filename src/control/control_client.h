#pragma once
// The client side of the control API (control_server.h): finds the berth run
// of a run dir from RUN_DIR/control.json and RUN_DIR/control.token, and sends
// it one request. `berth status` and `berth down` use it.

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "berth/status.h"

namespace berth::control {

// RUN_DIR/control.json.
struct ControlAddress {
  std::string url;
  int port = -1;
  int pid = -1;
};

// Errors: kNotFound when the run dir has no control.json (berth is not
// running, or ended); kInvalidSpec when it is not one.
Result<ControlAddress> ReadControlAddress(const std::string& run_dir);
// The token. Errors name the file and what to do ("permission denied — run
// as the user who started berth").
Result<std::string> ReadControlToken(const std::string& run_dir);

struct ControlResponse {
  int status = 0;       // HTTP status
  nlohmann::json body;  // the reply's JSON (null when it was not JSON)
  // The reply's error message when status is not 2xx ("" otherwise).
  std::string error_message() const;
};

// One request to 127.0.0.1:`port`. `body` empty: none. `timeout` bounds all
// of it (connecting, writing, reading), and a reply over 64 MiB is refused.
// Errors: kUnavailable when nothing answers (refused, timed out, a reply cut
// short or malformed), with what happened; kInvalidSpec for a method, path
// or token with a line break or NUL (they would forge the request).
Result<ControlResponse> ControlCall(int port, const std::string& token, const std::string& method,
                                    const std::string& path, const std::string& body,
                                    std::chrono::milliseconds timeout);

// One request to the berth run of `run_dir`. Errors: kNotFound (no
// control.json: "berth is not running"), kUnavailable ("berth is not running
// (pid N gone)", or it did not answer), kBackend (the token is unreadable).
// An HTTP error status is a response, not an error.
Result<ControlResponse> ControlRequest(const std::string& run_dir, const std::string& method,
                                       const std::string& path, const std::string& body,
                                       std::chrono::milliseconds timeout);

}  // namespace berth::control
