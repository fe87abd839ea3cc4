// ProbeMany against real sockets: a port nobody listens on, a TCP listener,
// and HTTP servers answering 200 and 503, probed together in one call.

#include "scheduler/probe.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

namespace berth::scheduler {
namespace {

// A listening socket on a free loopback port; its port in *port.
int Listen(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  EXPECT_EQ(listen(fd, 8), 0);
  socklen_t len = sizeof sa;
  getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  *port = ntohs(sa.sin_port);
  return fd;
}

// Answers one connection with `status_line`, then closes.
std::thread AnswerOnce(int listener, std::string status_line) {
  return std::thread([listener, status_line] {
    int c = accept(listener, nullptr, nullptr);
    if (c < 0) return;
    char buf[512];
    (void)!read(c, buf, sizeof buf);
    const std::string reply = status_line + "\r\nContent-Length: 0\r\n\r\n";
    (void)!write(c, reply.data(), reply.size());
    close(c);
  });
}

TEST(ProbeTest, ManyAtOnce) {
  int closed_port = 0;
  close(Listen(&closed_port));  // free again: nobody listens there
  int tcp_port = 0, ok_port = 0, bad_port = 0;
  const int tcp = Listen(&tcp_port);
  const int ok = Listen(&ok_port);
  const int bad = Listen(&bad_port);
  std::thread a = AnswerOnce(ok, "HTTP/1.1 200 OK");
  std::thread b = AnswerOnce(bad, "HTTP/1.1 503 Service Unavailable");
  const std::vector<bool> up = ProbeMany({{"127.0.0.1", closed_port, ""},
                                          {"127.0.0.1", tcp_port, ""},
                                          {"127.0.0.1", ok_port, "/health"},
                                          {"127.0.0.1", bad_port, "/health"},
                                          {"not-an-address", tcp_port, ""},
                                          {"127.0.0.1", -1, ""}},
                                         std::chrono::milliseconds(2000));
  EXPECT_EQ(up, (std::vector<bool>{false, true, true, false, false, false}));
  a.join();
  b.join();
  close(tcp);
  close(ok);
  close(bad);
}

TEST(ProbeTest, SilentServerTimesOut) {
  int port = 0;
  const int fd = Listen(&port);  // accepts (backlog) but never answers
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(ProbeMany({{"127.0.0.1", port, "/health"}}, std::chrono::milliseconds(200)),
            std::vector<bool>{false});
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(1500));
  close(fd);
}

}  // namespace
}  // namespace berth::scheduler
