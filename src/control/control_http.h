#pragma once
// The HTTP/1.1 the control API speaks, as plain parsing with no sockets: the
// server's request reader, the client's reply reader, and the text of a
// reply. Strict on purpose: one request per connection, bodies framed by
// Content-Length or chunked, header bytes taken as sent (no decoding), and
// anything malformed (a NUL or CR in a header, a folded header line, two
// Content-Lengths) refused with the status and a sentence naming the problem,
// never guessed at. control_http_server.h drives it over sockets.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace berth::control {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// A request once read: `target` as sent; `path` and `params` %-decoded
// (a '+' in the query is a space); `headers` with names and values as sent,
// less the spaces around a value (which HTTP says are not part of it).
struct HttpRequest {
  std::string method;
  std::string target;
  std::string path;
  std::vector<std::pair<std::string, std::string>> params;
  HttpHeaders headers;
  std::string body;

  // The values of the headers called `name` (names compare ignoring case).
  std::vector<std::string_view> HeaderValues(std::string_view name) const;
};

// A reply: the status, the body (JSON for the control API; the status page
// is HTML) and any headers besides Content-Type, Content-Length and
// Connection, which every reply has.
struct HttpReply {
  int status = 200;
  std::string body;
  HttpHeaders headers;
  std::string content_type = "application/json";
};

// "HTTP/1.1 <status> <reason>\r\n" and the headers; "Connection: close"
// always (one request per connection). `with_body` false: a HEAD's reply.
std::string RenderReply(const HttpReply& reply, bool with_body = true);
const char* HttpReasonPhrase(int status);

// The offset of the first byte that is not part of well-formed UTF-8
// (overlong forms, surrogates and code points past U+10FFFF included), or
// nullopt when all of `text` is.
std::optional<size_t> FirstInvalidUtf8(std::string_view text);

// %XX decoding of a request target's path or query part. Nullopt when a '%'
// is not followed by two hex digits.
std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space);

// A chunked body (RFC 9112 7.1), fed in pieces. Chunk extensions and
// trailers are read and dropped.
class ChunkedDecoder {
 public:
  enum class State { kMore, kDone, kFailed };
  // Consumes the bytes of `in` that belong to the body (*used of them),
  // appending the data to `out` (nullptr: dropped). `max_line`: the longest
  // chunk-size or trailer line.
  State Feed(std::string_view in, size_t* used, std::string* out, size_t max_line = 4096);
  const std::string& error() const { return error_; }
  uint64_t data_bytes() const { return data_bytes_; }

 private:
  enum class Part { kSize, kData, kDataEnd, kTrailer, kDone, kFailed };
  State Fail(std::string why);
  Part part_ = Part::kSize;
  std::string line_;
  uint64_t left_ = 0;
  uint64_t data_bytes_ = 0;
  std::string error_;
};

// Reads one request from the bytes of a connection, as they come.
class HttpRequestReader {
 public:
  struct Limits {
    size_t max_header_bytes = size_t{16} * 1024;  // the request line and headers together
    size_t max_target_bytes = size_t{8} * 1024;   // the request line's target
    size_t max_headers = 100;
    size_t max_body = 1 << 20;
  };
  enum class State { kHeaders, kBody, kDone, kFailed };

  explicit HttpRequestReader(Limits limits) : limits_(limits) {}

  // Consumes `bytes`; returns the state after them. Bytes after the end of
  // the request (a second, pipelined one) are ignored.
  State Feed(std::string_view bytes);
  State state() const { return state_; }
  // True once, on the Feed that completed the headers.
  bool TakeHeadersDone();

  // Valid from kBody on (the body from kDone on).
  const HttpRequest& request() const { return request_; }
  HttpRequest& request() { return request_; }
  bool expects_continue() const { return expects_continue_; }
  // The declared or received body is over max_body: the rest is read and
  // dropped, so that the 413 reaches a client that writes it all first.
  bool body_too_large() const { return body_too_large_; }
  // The request will be refused whatever its body: read it, keep none.
  void DropBody();
  // kFailed: the status to answer (400, 413, 414, 431, 501, 505) and why.
  int error_status() const { return error_status_; }
  const std::string& error() const { return error_; }

 private:
  State Fail(int status, std::string why);
  State ParseHead(std::string_view head);
  State ParseRequestLine(std::string_view line);
  State StartBody();
  State FeedBody(std::string_view bytes);

  Limits limits_;
  State state_ = State::kHeaders;
  std::string head_;
  bool headers_done_ = false;
  HttpRequest request_;
  bool expects_continue_ = false;
  bool chunked_ = false;
  bool keep_body_ = true;
  bool body_too_large_ = false;
  uint64_t body_left_ = 0;  // Content-Length framing
  ChunkedDecoder chunks_;
  int error_status_ = 0;
  std::string error_;
};

// Reads a reply (the client's side), as it comes.
class HttpReplyReader {
 public:
  enum class State { kMore, kDone, kFailed };
  explicit HttpReplyReader(size_t max_bytes) : max_bytes_(max_bytes) {}

  State Feed(std::string_view bytes);
  // The peer closed the connection: a reply without a length ends here.
  State Finish();
  int status() const { return status_; }
  const std::string& body() const { return body_; }
  const std::string& error() const { return error_; }

 private:
  State Fail(std::string why);
  State ParseHead();
  State FeedBody(std::string_view bytes);

  size_t max_bytes_;
  State state_ = State::kMore;
  std::string head_;
  bool head_done_ = false;
  int status_ = 0;
  bool chunked_ = false;
  std::optional<uint64_t> length_;
  std::string body_;
  ChunkedDecoder chunks_;
  std::string error_;
};

}  // namespace berth::control
