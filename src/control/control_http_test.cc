// The control API's HTTP parsing and its token check, on bytes (no sockets).

#include "control/control_http.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "control/control_server.h"

namespace berth::control {
namespace {

using State = HttpRequestReader::State;

HttpRequestReader Read(const std::string& bytes, HttpRequestReader::Limits limits = {}) {
  HttpRequestReader r(limits);
  r.Feed(bytes);
  return r;
}

TEST(ControlHttpRequest, ReadsARequestInPiecesOfAnySize) {
  const std::string text =
      "POST /v1/roles/a%20b/fork?timeout=2.5&x=a+b%21 HTTP/1.1\r\nHost: h\r\n"
      "Authorization:   Bearer t0k  \r\nContent-Length: 5\r\n\r\nhello";
  for (size_t step : {size_t{1}, size_t{3}, size_t{7}, text.size()}) {
    HttpRequestReader r({});
    State st = State::kHeaders;
    bool saw_headers = false;
    for (size_t i = 0; i < text.size(); i += step) {
      st = r.Feed(text.substr(i, step));
      saw_headers = r.TakeHeadersDone() || saw_headers;
    }
    ASSERT_EQ(st, State::kDone) << step << ": " << r.error();
    EXPECT_TRUE(saw_headers);
    const HttpRequest& q = r.request();
    EXPECT_EQ(q.method, "POST");
    EXPECT_EQ(q.path, "/v1/roles/a b/fork");
    EXPECT_EQ(q.params, (std::vector<std::pair<std::string, std::string>>{{"timeout", "2.5"},
                                                                          {"x", "a b!"}}));
    ASSERT_EQ(q.HeaderValues("authorization").size(), 1U);
    EXPECT_EQ(q.HeaderValues("authorization")[0], "Bearer t0k");
    EXPECT_EQ(q.body, "hello");
  }
}

TEST(ControlHttpRequest, NoBodyWithoutALengthAndChunkedBodies) {
  HttpRequestReader r = Read("POST /v1/down HTTP/1.1\r\n\r\n");
  EXPECT_EQ(r.state(), State::kDone);
  EXPECT_EQ(r.request().body, "");
  r = Read(
      "POST /v1/roles HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3;ext=1\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nTrailer: x\r\n\r\n");
  ASSERT_EQ(r.state(), State::kDone) << r.error();
  EXPECT_EQ(r.request().body, "abc0123456789abcdef");
}

TEST(ControlHttpRequest, MalformedRequestsAreRefusedNamingTheProblem) {
  struct Case {
    std::string bytes;
    int status;
    std::string says;
  };
  const std::string tail = " HTTP/1.1\r\nHost: h\r\n\r\n";
  for (const Case& c : std::vector<Case>{
           {"GET /v1/status\r\n\r\n", 400, "request line"},
           {"GET  /v1/status HTTP/1.1\r\n\r\n", 400, "request line"},
           {"GET http://x/v1/status" + tail, 400, "not a path"},
           {"GET /v1/status HTTP/2.0\r\n\r\n", 505, "HTTP/2.0"},
           {"GET /v1/status HTTX/1.1\r\n\r\n", 400, "request line"},
           {"G@T /v1/status" + tail, 400, "method"},
           {"GET /v1/%zz" + tail, 400, "%-escape"},
           {"GET /v1/%ff%fe" + tail, 400, "not UTF-8"},
           {"GET /v1/a%00b" + tail, 400, "NUL"},
           {"GET /v1/status?x=%c3" + tail, 400, "query parameter"},
           {"GET /v1/status HTTP/1.1\r\nAuthorization: Bearer abc" + std::string(1, '\0') +
                "junk\r\n\r\n",
            400, "control byte"},
           {"GET /v1/status HTTP/1.1\r\nAuthorization: Bearer a\rb\r\n\r\n", 400, "control byte"},
           {"GET /v1/status HTTP/1.1\r\nAuthorization: Bearer\r\n abc\r\n\r\n", 400, "folded"},
           {"GET /v1/status HTTP/1.1\r\nAuthorization : Bearer abc\r\n\r\n", 400, "header line"},
           {"GET /v1/status HTTP/1.1\r\nno colon\r\n\r\n", 400, "header line"},
           {"POST /v1/roles HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}", 400,
            "more than one Content-Length"},
           {"POST /v1/roles HTTP/1.1\r\nContent-Length: -2\r\n\r\n", 400, "Content-Length"},
           {"POST /v1/roles HTTP/1.1\r\nContent-Length: 0x2\r\n\r\n", 400, "Content-Length"},
           {"POST /v1/roles HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
            400, "both"},
           {"POST /v1/roles HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "gzip"},
           {"POST /v1/roles HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400,
            "chunk size"},
           {"POST /v1/roles HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX", 400, "CRLF"},
       }) {
    HttpRequestReader r = Read(c.bytes);
    EXPECT_EQ(r.state(), State::kFailed) << c.bytes;
    EXPECT_EQ(r.error_status(), c.status) << c.bytes << " -> " << r.error();
    EXPECT_NE(r.error().find(c.says), std::string::npos) << c.bytes << " -> " << r.error();
  }
}

TEST(ControlHttpRequest, SizeLimits) {
  HttpRequestReader::Limits small;
  small.max_header_bytes = 256;
  small.max_target_bytes = 64;
  small.max_headers = 3;
  small.max_body = 10;
  HttpRequestReader r = Read("GET /" + std::string(200, 'a') + " HTTP/1.1\r\n\r\n", small);
  EXPECT_EQ(r.error_status(), 414) << r.error();
  r = Read("GET /" + std::string(500, 'a'), small);  // no line end yet
  EXPECT_EQ(r.error_status(), 414) << r.error();
  r = Read("GET / HTTP/1.1\r\nX: " + std::string(300, 'a') + "\r\n\r\n", small);
  EXPECT_EQ(r.error_status(), 431) << r.error();
  r = Read("GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", small);
  EXPECT_EQ(r.error_status(), 431) << r.error();
  // A body over the limit is read to its end and kept nowhere.
  r = Read("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n" + std::string(11, 'x'), small);
  EXPECT_EQ(r.state(), State::kDone);
  EXPECT_TRUE(r.body_too_large());
  EXPECT_EQ(r.request().body, "");
  r = Read("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678",
           small);
  EXPECT_TRUE(r.body_too_large());
  EXPECT_EQ(r.request().body, "");
  r = Read("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n" + std::string(10, 'x'), small);
  EXPECT_FALSE(r.body_too_large());
  EXPECT_EQ(r.request().body.size(), 10U);
}

TEST(ControlHttpRequest, ExpectContinueOnlyWhenABodyFollows) {
  HttpRequestReader r =
      Read("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  EXPECT_EQ(r.state(), State::kBody);
  EXPECT_TRUE(r.expects_continue());
  r = Read("POST / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(r.state(), State::kDone);
  EXPECT_FALSE(r.expects_continue());
}

TEST(ControlHttpReply, RendersAndReadsBack) {
  HttpReply reply{401, "{\"a\":1}\n", {{"WWW-Authenticate", "Bearer"}}};
  const std::string text = RenderReply(reply);
  EXPECT_EQ(text.rfind("HTTP/1.1 401 Unauthorized\r\n", 0), 0U) << text;
  EXPECT_NE(text.find("Content-Length: 8\r\n"), std::string::npos);
  EXPECT_NE(text.find("Connection: close\r\n"), std::string::npos);
  EXPECT_NE(text.find("WWW-Authenticate: Bearer\r\n"), std::string::npos);
  HttpReplyReader r(1024);
  // An interim 100 Continue first, then the reply, a byte at a time.
  const std::string all = "HTTP/1.1 100 Continue\r\n\r\n" + text;
  HttpReplyReader::State st = HttpReplyReader::State::kMore;
  for (char c : all) st = r.Feed(std::string(1, c));
  ASSERT_EQ(st, HttpReplyReader::State::kDone) << r.error();
  EXPECT_EQ(r.status(), 401);
  EXPECT_EQ(r.body(), reply.body);
  // Without the body's bytes in a HEAD reply's text.
  EXPECT_EQ(RenderReply(reply, false).find("{\"a\""), std::string::npos);
}

TEST(ControlHttpReply, BoundedAndStrict) {
  HttpReplyReader big(100);
  EXPECT_EQ(big.Feed("HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n"),
            HttpReplyReader::State::kFailed);
  HttpReplyReader until_close(100);
  EXPECT_EQ(until_close.Feed("HTTP/1.1 200 OK\r\n\r\n" + std::string(101, 'x')),
            HttpReplyReader::State::kFailed);
  HttpReplyReader cut(100);
  cut.Feed("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
  EXPECT_EQ(cut.Finish(), HttpReplyReader::State::kFailed);
  EXPECT_NE(cut.error().find("closed before the end"), std::string::npos);
  HttpReplyReader chunked(100);
  EXPECT_EQ(
      chunked.Feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"),
      HttpReplyReader::State::kDone);
  EXPECT_EQ(chunked.body(), "{}");
  HttpReplyReader junk(100);
  EXPECT_EQ(junk.Feed("SSH-2.0-OpenSSH\r\n\r\n"), HttpReplyReader::State::kFailed);
}

TEST(ControlHttpText, Utf8AndPercentDecoding) {
  EXPECT_FALSE(FirstInvalidUtf8("plain, \xc3\xa9t\xc3\xa9, \xe2\x82\xac, \xf0\x9f\x9a\x80"));
  EXPECT_EQ(FirstInvalidUtf8("ab\xff"), 2U);
  EXPECT_EQ(FirstInvalidUtf8("a\xc3"), 1U);             // cut short
  EXPECT_EQ(FirstInvalidUtf8("\xc0\xaf"), 0U);          // overlong '/'
  EXPECT_EQ(FirstInvalidUtf8("\xe0\x80\xaf"), 0U);      // overlong
  EXPECT_EQ(FirstInvalidUtf8("\xed\xa0\x80"), 0U);      // a surrogate
  EXPECT_EQ(FirstInvalidUtf8("\xf4\x90\x80\x80"), 0U);  // past U+10FFFF
  EXPECT_EQ(FirstInvalidUtf8("x\x80"), 1U);             // a lone continuation byte
  EXPECT_EQ(PercentDecode("a%20b+c%2B", true), "a b c+");
  EXPECT_EQ(PercentDecode("a+b", false), "a+b");
  EXPECT_FALSE(PercentDecode("%2", false));
  EXPECT_FALSE(PercentDecode("%", false));
  EXPECT_FALSE(PercentDecode("%g0", false));
}

// --- the token, byte for byte ---

TEST(ControlAuth, TheTokenIsComparedByteForByteAsSent) {
  const std::string token = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
  EXPECT_FALSE(CheckAuthorization("Bearer " + token, token));
  EXPECT_FALSE(CheckAuthorization("BEARER  " + token, token));  // the scheme's case is free
  std::string upper = token;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& bad : std::vector<std::string>{
           "Bearer " + token + "%00junk",                      // not %-decoded
           "Bearer " + token + std::string(1, '\0') + "junk",  // not cut at a NUL
           "Bearer " + token + "junk",
           "Bearer " + token + " ",  // a trailing space is a byte too
           "Bearer " + upper,        // the token's case is not free
           "Bearer " + token.substr(0, 63),
           "Bearer%20" + token,
           "Bearer\t" + token,
           "Bearer",
           "",
       }) {
    std::optional<ControlReply> r = CheckAuthorization(bad, token);
    ASSERT_TRUE(r.has_value()) << bad;
    EXPECT_EQ(r->status, 401) << bad;
  }
}

TEST(ControlReplyText, NeverThrowsOnBytesThatAreNotUtf8) {
  ControlReply r = ErrorReply(NotFound("no role \"\xff\xfe\" here"));
  std::string text;
  EXPECT_NO_THROW(text = ReplyText(r));
  EXPECT_NE(text.find("no role"), std::string::npos) << text;
  EXPECT_NE(text.find("\xef\xbf\xbd"), std::string::npos) << text;  // U+FFFD
  EXPECT_EQ(text.back(), '\n');
}

}  // namespace
}  // namespace berth::control
