#pragma once
// Status and Result<T>: berth's error values. No exceptions cross our API; a
// third-party library that throws is wrapped at its adapter.
//
// Codes are chosen by what the caller does next:
//   kInvalidSpec  - fix the input (a field, a value).
//   kInfeasible   - can never fit the current cluster: change the request or add nodes.
//   kUnavailable  - fits, but not now: wait or retry.
//   kNotFound     - the named thing does not exist.
//   kBackend      - a runtime (process, Slurm) failed.
//   kWorkerFailed - a worker exited or was killed: read its log, fix it.
//   kTimeout      - a bounded wait ran out: wait longer, or find what is slow.
//   kInternal     - a bug in berth.
//
// An error about a placement group that is not placed also carries the
// engine's Explanation (berth/explanation.h): the message is one readable
// line, the explanation the data behind it. Copies share it (immutable).
// A caller that adds context to an error keeps it with WithPrefix or
// WithMessage; the propagating macros below return the Status as it is.

#include <cassert>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace berth {

struct Explanation;  // berth/explanation.h

enum class ErrorCode {
  kOk,
  kInvalidSpec,
  kInfeasible,
  kUnavailable,
  kNotFound,
  kBackend,
  kWorkerFailed,
  kTimeout,
  kInternal,
};

const char* ErrorCodeName(ErrorCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "InvalidSpec: <message>", or "OK".
  std::string ToString() const;

  // Why a placement group is not placed, when this error is about one; else
  // null. Rendered to text by the placement layer's ErrorText.
  const Explanation* explanation() const { return explanation_.get(); }
  const std::shared_ptr<const Explanation>& shared_explanation() const { return explanation_; }
  // This error with `explanation` attached (an OK status stays OK and bare).
  Status WithExplanation(std::shared_ptr<const Explanation> explanation) const {
    Status s = *this;
    if (!s.ok()) s.explanation_ = std::move(explanation);
    return s;
  }
  // The same error (code, explanation) with another message, or with
  // `prefix` before this one: for callers that add where it happened.
  Status WithMessage(std::string message) const {
    Status s(code_, std::move(message));
    s.explanation_ = explanation_;
    return s;
  }
  Status WithPrefix(std::string_view prefix) const {
    return WithMessage(std::string(prefix) + message_);
  }

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
  std::shared_ptr<const Explanation> explanation_;
};

inline Status InvalidSpec(std::string msg) { return {ErrorCode::kInvalidSpec, std::move(msg)}; }
inline Status Infeasible(std::string msg) { return {ErrorCode::kInfeasible, std::move(msg)}; }
inline Status Unavailable(std::string msg) { return {ErrorCode::kUnavailable, std::move(msg)}; }
inline Status NotFound(std::string msg) { return {ErrorCode::kNotFound, std::move(msg)}; }
inline Status BackendError(std::string msg) { return {ErrorCode::kBackend, std::move(msg)}; }
inline Status WorkerFailed(std::string msg) { return {ErrorCode::kWorkerFailed, std::move(msg)}; }
inline Status Timeout(std::string msg) { return {ErrorCode::kTimeout, std::move(msg)}; }
inline Status Internal(std::string msg) { return {ErrorCode::kInternal, std::move(msg)}; }

namespace internal {
// Prints `what` to stderr and aborts: a Result used against its contract.
[[noreturn]] void ResultMisuse(const std::string& what);
}  // namespace internal

// Result<T> holds a T or a non-OK Status. Shaped like std::expected so that a
// later switch to C++23 is an alias.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design, like expected
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).ok() && "Result built from an OK status");
  }

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  // REQUIRES: has_value(). Nothing here throws: asking an error for its value
  // is a bug in the caller, and ends the program with the error's message.
  T& value() & { return *Checked(std::get_if<0>(&v_)); }
  const T& value() const& { return *Checked(std::get_if<0>(&v_)); }
  T&& value() && { return std::move(*Checked(std::get_if<0>(&v_))); }
  // REQUIRES: !has_value().
  const Status& error() const {
    const Status* s = std::get_if<1>(&v_);
    if (s == nullptr) internal::ResultMisuse("Result::error() called on a value");
    return *s;
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  template <typename P>
  P* Checked(P* p) const {
    if (p == nullptr) {
      internal::ResultMisuse("Result::value() called on an error: " +
                             std::get_if<1>(&v_)->ToString());
    }
    return p;
  }

  std::variant<T, Status> v_;
};

}  // namespace berth

#define BERTH_CONCAT_INNER_(a, b) a##b
#define BERTH_CONCAT_(a, b) BERTH_CONCAT_INNER_(a, b)

#define BERTH_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::berth::Status berth_status_ = (expr);        \
    if (!berth_status_.ok()) return berth_status_; \
  } while (0)

// NOLINTBEGIN(bugprone-macro-parentheses): tmp is a variable's name and lhs a
// declaration ("std::string out"); neither may be parenthesized.
#define BERTH_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.has_value()) return tmp.error();          \
  lhs = std::move(tmp).value()
// NOLINTEND(bugprone-macro-parentheses)

#define BERTH_ASSIGN_OR_RETURN(lhs, expr) \
  BERTH_ASSIGN_OR_RETURN_IMPL_(BERTH_CONCAT_(berth_result_, __LINE__), lhs, expr)
