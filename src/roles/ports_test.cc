#include "roles/ports.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>

namespace berth::roles {
namespace {

TEST(AllOnLoopbackTest, EveryNodeNeedsALoopbackAddress) {
  const NodeSpec a{"node1", {}, {{"address", "127.0.0.1"}}};
  const NodeSpec b{"node2", {}, {{"address", "127.0.1.5"}}};
  const NodeSpec far{"gpu7", {}, {{"address", "10.0.0.7"}}};
  const NodeSpec none{"n", {}, {}};
  EXPECT_TRUE(AllOnLoopback({a, b}));
  EXPECT_FALSE(AllOnLoopback({a, far}));
  EXPECT_FALSE(AllOnLoopback({none}));
}

TEST(CountingPortsTest, CountsPerNodeFromTheBase) {
  PortSource ports = CountingPorts(30000);
  EXPECT_EQ(*ports("a"), 30000);
  EXPECT_EQ(*ports("a"), 30001);
  EXPECT_EQ(*ports("b"), 30000);
  PortSource copy = ports;  // copies share the counters
  EXPECT_EQ(*copy("a"), 30002);
  EXPECT_EQ(*ports("a"), 30003);
}

TEST(CountingPortsTest, RunsOutPast65535) {
  PortSource ports = CountingPorts(65535);
  EXPECT_EQ(*ports("a"), 65535);
  auto r = ports("a");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kUnavailable);
}

TEST(LocalFreePortsTest, DistinctAndBindable) {
  PortSource ports = LocalFreePorts();
  std::set<int> seen;
  for (int i = 0; i < 50; ++i) {
    auto p = ports("local");
    ASSERT_TRUE(p.has_value()) << p.error().ToString();
    EXPECT_GE(*p, 20000);
    EXPECT_LT(*p, 32768);
    EXPECT_TRUE(seen.insert(*p).second) << *p << " handed out twice";
    EXPECT_TRUE(CanBindPort(*p));
  }
}

TEST(LocalFreePortsTest, SkipsAPortInUseAndNeverRepeats) {
  // Hold one port of a tiny range: the source must hand out the other ones
  // and then say the range is spent.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int held = ntohs(addr.sin_port);
  EXPECT_FALSE(CanBindPort(held));

  PortSource ports = LocalFreePorts(held - 1, held + 2);
  std::set<int> got;
  for (int i = 0; i < 3; ++i) {
    auto p = ports("local");
    if (!p) {
      EXPECT_EQ(p.error().code(), ErrorCode::kUnavailable);
      break;
    }
    EXPECT_NE(*p, held);
    EXPECT_TRUE(got.insert(*p).second);
  }
  EXPECT_LE(got.size(), 2U);
  EXPECT_FALSE(ports("local").has_value());
  ::close(fd);
}

// A server that served a connection and exited, closing it first, leaves it in
// TIME_WAIT on its port: no bind without SO_REUSEADDR (no port to hand out),
// yet nobody holds the port (a worker that exited at start-up lost it to no one).
TEST(PortInUseTest, AListenerHoldsItsPortATimeWaitLeftBehindDoesNot) {
  const int on = 1;
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  ASSERT_EQ(::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on), 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener, 1), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);
  EXPECT_TRUE(PortInUse(port));
  EXPECT_FALSE(CanBindPort(port));

  const int client = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(client, 0);
  ASSERT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const int served = ::accept(listener, nullptr, nullptr);
  ASSERT_GE(served, 0);
  // The server ends: its side of the connection first, then the listener.
  ::close(served);
  ::close(listener);
  ::close(client);
  EXPECT_FALSE(CanBindPort(port));
  EXPECT_FALSE(PortInUse(port));
}

}  // namespace
}  // namespace berth::roles
