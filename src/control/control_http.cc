// The control API's HTTP/1.1: reading a request and a reply, writing a reply; no sockets.

#include "control/control_http.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>

namespace berth::control {
namespace {

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// RFC 9110 5.6.2: the characters of a method or a header name.
bool IsTokenChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (std::isalnum(u) != 0) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), IsTokenChar);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string Printable(std::string_view s, size_t max = 40) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max; ++i) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (u >= 0x20 && u < 0x7f) {
      out += s[i];
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", u);
      out += hex;
    }
  }
  if (s.size() > max) out += "...";
  return out;
}

// Where the head (start line and headers) ends: just past the empty line
// that closes it (CRLF CRLF, or bare LFs), or npos. Searching from `from`.
size_t FindHeadEnd(std::string_view buf, size_t from) {
  for (size_t i = buf.find('\n', from); i != std::string_view::npos; i = buf.find('\n', i + 1)) {
    if (i + 1 < buf.size() && buf[i + 1] == '\n') return i + 2;
    if (i + 2 < buf.size() && buf[i + 1] == '\r' && buf[i + 2] == '\n') return i + 3;
  }
  return std::string_view::npos;
}

// The head's lines, each without its line end; the closing empty line dropped.
std::vector<std::string_view> HeadLines(std::string_view head) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start < head.size()) {
    size_t nl = head.find('\n', start);
    if (nl == std::string_view::npos) nl = head.size();
    std::string_view line = head.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    start = nl + 1;
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

// One "Name: value" line, taken as sent; an error sentence when malformed.
std::optional<std::string> ParseHeaderLine(std::string_view line, HttpHeaders* out) {
  if (line.front() == ' ' || line.front() == '\t') {
    return "a folded header line (starting with a space or tab) is not accepted: \"" +
           Printable(line) + "\"";
  }
  for (char c : line) {
    const auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) {
      return "a header line has a control byte (NUL, CR or the like): \"" + Printable(line) + "\"";
    }
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || !IsToken(line.substr(0, colon))) {
    return R"(not a header line (want "Name: value"): ")" + Printable(line) + "\"";
  }
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  out->emplace_back(std::string(line.substr(0, colon)), std::string(value));
  return std::nullopt;
}

std::vector<std::string_view> ValuesOf(const HttpHeaders& headers, std::string_view name) {
  std::vector<std::string_view> values;
  for (const auto& [n, v] : headers) {
    if (EqualsIgnoringCase(n, name)) values.emplace_back(v);
  }
  return values;
}

// A Content-Length value: 1 to 18 digits.
std::optional<uint64_t> ParseLength(std::string_view v) {
  if (v.empty() || v.size() > 18) return std::nullopt;
  uint64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

}  // namespace

std::vector<std::string_view> HttpRequest::HeaderValues(std::string_view name) const {
  return ValuesOf(headers, name);
}

const char* HttpReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not Found";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Status";
  }
}

std::string RenderReply(const HttpReply& reply, bool with_body) {
  std::string out = "HTTP/1.1 " + std::to_string(reply.status) + " " +
                    HttpReasonPhrase(reply.status) + "\r\nContent-Type: " + reply.content_type +
                    "\r\n" + "Content-Length: " + std::to_string(reply.body.size()) +
                    "\r\nConnection: close\r\n";
  for (const auto& [name, value] : reply.headers) out += name + ": " + value + "\r\n";
  out += "\r\n";
  if (with_body) out += reply.body;
  return out;
}

std::optional<size_t> FirstInvalidUtf8(std::string_view text) {
  const std::string_view s = text;
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return i;  // a continuation byte first, an overlong 0xc0/0xc1, or past 0xf4
    }
    if (i + len > s.size()) return i;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    const bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    if (overlong || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += len;
  }
  return std::nullopt;
}

std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int hi = HexValue(text[i + 1]);
      const int lo = HexValue(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (plus_is_space && text[i] == '+') {
      out += ' ';
    } else {
      out += text[i];
    }
  }
  return out;
}

// --- ChunkedDecoder ---

ChunkedDecoder::State ChunkedDecoder::Fail(std::string why) {
  part_ = Part::kFailed;
  error_ = std::move(why);
  return State::kFailed;
}

ChunkedDecoder::State ChunkedDecoder::Feed(std::string_view in, size_t* used, std::string* out,
                                           size_t max_line) {
  size_t i = 0;
  *used = 0;
  if (part_ == Part::kFailed) return State::kFailed;
  while (i < in.size() && part_ != Part::kDone) {
    if (part_ == Part::kData) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(left_, in.size() - i));
      if (out != nullptr) out->append(in.substr(i, n));
      data_bytes_ += n;
      left_ -= n;
      i += n;
      if (left_ == 0) part_ = Part::kDataEnd;
      continue;
    }
    // The other parts are lines.
    const char c = in[i++];
    if (part_ == Part::kDataEnd && c != '\n' && !(c == '\r' && line_.empty())) {
      *used = i;
      return Fail("chunk data is not followed by CRLF");
    }
    if (c != '\n') {
      line_ += c;
      if (line_.size() > max_line) {
        *used = i;
        return Fail("a chunk-size or trailer line is over " + std::to_string(max_line) + " bytes");
      }
      continue;
    }
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    std::string line;
    line.swap(line_);
    if (part_ == Part::kDataEnd) {
      if (!line.empty()) {
        *used = i;
        return Fail("chunk data is not followed by CRLF");
      }
      part_ = Part::kSize;
    } else if (part_ == Part::kSize) {
      std::string_view digits(line);
      digits = digits.substr(0, digits.find(';'));
      while (!digits.empty() && (digits.back() == ' ' || digits.back() == '\t')) {
        digits.remove_suffix(1);
      }
      if (digits.empty() || digits.size() > 15) {
        *used = i;
        return Fail("bad chunk size \"" + Printable(line) + "\" (want 1 to 15 hex digits)");
      }
      uint64_t size = 0;
      for (char d : digits) {
        const int v = HexValue(d);
        if (v < 0) {
          *used = i;
          return Fail("bad chunk size \"" + Printable(line) + "\" (want hex digits)");
        }
        size = size * 16 + static_cast<uint64_t>(v);
      }
      left_ = size;
      part_ = size == 0 ? Part::kTrailer : Part::kData;
    } else if (part_ == Part::kTrailer) {
      if (line.empty()) part_ = Part::kDone;
      // Trailer fields are dropped; each is bounded by max_line.
    }
  }
  *used = i;
  return part_ == Part::kDone ? State::kDone : State::kMore;
}

// --- HttpRequestReader ---

HttpRequestReader::State HttpRequestReader::Fail(int status, std::string why) {
  state_ = State::kFailed;
  error_status_ = status;
  error_ = std::move(why);
  head_.clear();
  request_.body.clear();
  return state_;
}

bool HttpRequestReader::TakeHeadersDone() {
  if (!headers_done_) return false;
  headers_done_ = false;
  return true;
}

void HttpRequestReader::DropBody() {
  keep_body_ = false;
  request_.body.clear();
  request_.body.shrink_to_fit();
}

HttpRequestReader::State HttpRequestReader::Feed(std::string_view bytes) {
  if (state_ == State::kBody) return FeedBody(bytes);
  if (state_ != State::kHeaders) return state_;
  // Empty lines before the request line are allowed (RFC 9112 2.2).
  while (head_.empty() && !bytes.empty() && (bytes.front() == '\r' || bytes.front() == '\n')) {
    bytes.remove_prefix(1);
  }
  const size_t old = head_.size();
  head_.append(bytes);
  const size_t end = FindHeadEnd(head_, old < 3 ? 0 : old - 3);
  if (end == std::string::npos || end > limits_.max_header_bytes) {
    const size_t first_line = std::min(head_.find('\n'), head_.size());
    if (first_line > limits_.max_target_bytes + 64) {
      return Fail(414, "the request line is over " + std::to_string(limits_.max_target_bytes) +
                           " bytes; the control API's paths are short");
    }
    if (head_.size() > limits_.max_header_bytes) {
      return Fail(431, "the request line and headers are over " +
                           std::to_string(limits_.max_header_bytes / 1024) +
                           " KiB; send only the headers the control API needs");
    }
    return state_;
  }
  const std::string rest = head_.substr(end);
  head_.resize(end);
  if (ParseHead(head_) == State::kFailed) return state_;
  head_.clear();
  head_.shrink_to_fit();
  headers_done_ = true;
  if (StartBody() == State::kBody && !rest.empty()) return FeedBody(rest);
  return state_;
}

HttpRequestReader::State HttpRequestReader::ParseRequestLine(std::string_view line) {
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return Fail(400, R"(not an HTTP request line (want "METHOD /path HTTP/1.1"): ")" +
                         Printable(line) + "\"");
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!IsToken(method)) return Fail(400, "bad method \"" + Printable(method) + "\"");
  if (target.size() > limits_.max_target_bytes) {
    return Fail(414, "the request target is over " + std::to_string(limits_.max_target_bytes) +
                         " bytes; the control API's paths are short");
  }
  if (target.empty() || target.front() != '/' ||
      std::any_of(target.begin(), target.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u <= 0x20 || u >= 0x7f;
      })) {
    return Fail(400, "the request target \"" + Printable(target) +
                         "\" is not a path (want /v1/...; non-ASCII bytes %-encoded)");
  }
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    if (version.substr(0, 5) == "HTTP/") {
      return Fail(505,
                  "HTTP version \"" + Printable(version) + "\" is not supported; use HTTP/1.1");
    }
    return Fail(400, R"(not an HTTP request line (want "METHOD /path HTTP/1.1"): ")" +
                         Printable(line) + "\"");
  }
  request_.method = std::string(method);
  request_.target = std::string(target);
  const size_t q = target.find('?');
  std::optional<std::string> path = PercentDecode(target.substr(0, q), false);
  if (!path) return Fail(400, "the path \"" + Printable(target) + "\" has a bad %-escape");
  if (FirstInvalidUtf8(*path) || path->find('\0') != std::string::npos) {
    return Fail(400, "the path \"" + Printable(target) +
                         "\" is not UTF-8 text once %-decoded (or has a NUL)");
  }
  request_.path = std::move(*path);
  if (q == std::string_view::npos) return state_;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view piece = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (piece.empty()) continue;
    const size_t eq = piece.find('=');
    std::optional<std::string> name = PercentDecode(piece.substr(0, eq), true);
    std::optional<std::string> value = PercentDecode(
        eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1), true);
    if (!name || !value || FirstInvalidUtf8(*name) || FirstInvalidUtf8(*value) ||
        name->find('\0') != std::string::npos || value->find('\0') != std::string::npos) {
      return Fail(400, "query parameter \"" + Printable(piece) +
                           "\" has a bad %-escape, or is not UTF-8 text once decoded");
    }
    request_.params.emplace_back(std::move(*name), std::move(*value));
  }
  return state_;
}

HttpRequestReader::State HttpRequestReader::ParseHead(std::string_view head) {
  const std::vector<std::string_view> lines = HeadLines(head);
  if (lines.empty()) return Fail(400, "an empty request");
  if (ParseRequestLine(lines[0]) == State::kFailed) return state_;
  if (lines.size() - 1 > limits_.max_headers) {
    return Fail(431, "more than " + std::to_string(limits_.max_headers) + " headers");
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    if (std::optional<std::string> bad = ParseHeaderLine(lines[i], &request_.headers)) {
      return Fail(400, *bad);
    }
  }
  const std::vector<std::string_view> te = request_.HeaderValues("Transfer-Encoding");
  const std::vector<std::string_view> cl = request_.HeaderValues("Content-Length");
  if (!te.empty() && !cl.empty()) {
    return Fail(400, "both Transfer-Encoding and Content-Length; send one");
  }
  if (!te.empty()) {
    if (te.size() > 1 || !EqualsIgnoringCase(te[0], "chunked")) {
      return Fail(501, "Transfer-Encoding \"" + Printable(te[0]) +
                           "\" is not supported; send the body with Content-Length (or chunked)");
    }
    chunked_ = true;
  }
  if (cl.size() > 1) return Fail(400, "more than one Content-Length header");
  if (cl.size() == 1) {
    std::optional<uint64_t> n = ParseLength(cl[0]);
    if (!n) {
      return Fail(400, "Content-Length \"" + Printable(cl[0]) + "\" is not a number of bytes");
    }
    body_left_ = *n;
    if (*n > limits_.max_body) {
      body_too_large_ = true;
      keep_body_ = false;
    }
  }
  for (std::string_view e : request_.HeaderValues("Expect")) {
    if (EqualsIgnoringCase(e, "100-continue")) expects_continue_ = true;
  }
  return state_;
}

HttpRequestReader::State HttpRequestReader::StartBody() {
  state_ = chunked_ || body_left_ > 0 ? State::kBody : State::kDone;
  if (state_ == State::kDone) expects_continue_ = false;
  return state_;
}

HttpRequestReader::State HttpRequestReader::FeedBody(std::string_view bytes) {
  if (!chunked_) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(body_left_, bytes.size()));
    if (keep_body_) request_.body.append(bytes.substr(0, n));
    body_left_ -= n;
    if (body_left_ == 0) state_ = State::kDone;
    return state_;
  }
  size_t used = 0;
  const ChunkedDecoder::State st =
      chunks_.Feed(bytes, &used, keep_body_ ? &request_.body : nullptr);
  if (chunks_.data_bytes() > limits_.max_body && !body_too_large_) {
    body_too_large_ = true;
    DropBody();
  }
  if (st == ChunkedDecoder::State::kFailed)
    return Fail(400, "bad chunked body: " + chunks_.error());
  if (st == ChunkedDecoder::State::kDone) state_ = State::kDone;
  return state_;
}

// --- HttpReplyReader ---

HttpReplyReader::State HttpReplyReader::Fail(std::string why) {
  state_ = State::kFailed;
  error_ = std::move(why);
  return state_;
}

HttpReplyReader::State HttpReplyReader::Feed(std::string_view bytes) {
  if (state_ != State::kMore) return state_;
  if (head_done_) return FeedBody(bytes);
  const size_t old = head_.size();
  head_.append(bytes);
  const size_t end = FindHeadEnd(head_, old < 3 ? 0 : old - 3);
  if (end == std::string::npos) {
    if (head_.size() > size_t{64} * 1024) return Fail("the reply's headers are over 64 KiB");
    return state_;
  }
  const std::string rest = head_.substr(end);
  head_.resize(end);
  if (ParseHead() == State::kFailed) return state_;
  head_.clear();
  if (status_ >= 100 && status_ < 200) {  // an interim reply (100 Continue): the real one follows
    status_ = 0;
    return Feed(rest);
  }
  head_done_ = true;
  if (length_ && *length_ == 0) {
    state_ = State::kDone;
    return state_;
  }
  return FeedBody(rest);
}

HttpReplyReader::State HttpReplyReader::ParseHead() {
  const std::vector<std::string_view> lines = HeadLines(head_);
  if (lines.empty()) return Fail("an empty reply");
  const std::string_view status_line = lines[0];
  if (status_line.size() < 12 || status_line.substr(0, 5) != "HTTP/" || status_line[8] != ' ' ||
      std::isdigit(static_cast<unsigned char>(status_line[9])) == 0 ||
      std::isdigit(static_cast<unsigned char>(status_line[10])) == 0 ||
      std::isdigit(static_cast<unsigned char>(status_line[11])) == 0) {
    return Fail("not an HTTP reply: \"" + Printable(status_line) + "\"");
  }
  status_ = (status_line[9] - '0') * 100 + (status_line[10] - '0') * 10 + (status_line[11] - '0');
  HttpHeaders headers;
  for (size_t i = 1; i < lines.size(); ++i) {
    if (std::optional<std::string> bad = ParseHeaderLine(lines[i], &headers)) return Fail(*bad);
  }
  const std::vector<std::string_view> te = ValuesOf(headers, "Transfer-Encoding");
  const std::vector<std::string_view> cl = ValuesOf(headers, "Content-Length");
  chunked_ = !te.empty() && EqualsIgnoringCase(te.back(), "chunked");
  if (!chunked_ && !cl.empty()) {
    length_ = ParseLength(cl[0]);
    if (!length_ || cl.size() > 1) return Fail("bad Content-Length in the reply");
    if (*length_ > max_bytes_) {
      return Fail("the reply is over " + std::to_string(max_bytes_ >> 20) + " MiB");
    }
  }
  return state_;
}

HttpReplyReader::State HttpReplyReader::FeedBody(std::string_view bytes) {
  if (chunked_) {
    size_t used = 0;
    const ChunkedDecoder::State st = chunks_.Feed(bytes, &used, &body_);
    if (st == ChunkedDecoder::State::kFailed) return Fail("bad chunked reply: " + chunks_.error());
    if (st == ChunkedDecoder::State::kDone) state_ = State::kDone;
  } else if (length_) {
    body_.append(bytes.substr(0, static_cast<size_t>(*length_ - body_.size())));
    if (body_.size() == *length_) state_ = State::kDone;
  } else {
    body_.append(bytes);
  }
  if (body_.size() > max_bytes_) {
    return Fail("the reply is over " + std::to_string(max_bytes_ >> 20) + " MiB");
  }
  return state_;
}

HttpReplyReader::State HttpReplyReader::Finish() {
  if (state_ != State::kMore) return state_;
  if (head_done_ && !chunked_ && !length_) {
    state_ = State::kDone;
    return state_;
  }
  return Fail(head_done_ ? "the connection closed before the end of the reply's body"
                         : "the connection closed before a reply");
}

}  // namespace berth::control
