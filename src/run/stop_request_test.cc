// The stop request: berth down from any thread, stop signals through the
// signalfd, the thread's signal mask given back.

#include "run/stop_request.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <csignal>
#include <thread>

namespace berth::run {
namespace {

bool Blocked(int sig) {
  sigset_t now;
  ::pthread_sigmask(SIG_SETMASK, nullptr, &now);
  return sigismember(&now, sig) == 1;
}

TEST(StopRequestTest, NothingAskedMeansNotStopping) {
  StopRequest stop;
  EXPECT_FALSE(stop.stopping());
  EXPECT_EQ(stop.signal_number(), 0);
  EXPECT_FALSE(stop.down_requested());
}

TEST(StopRequestTest, DownFromAnotherThread) {
  StopRequest stop;
  std::thread api([&stop] { stop.RequestDown(); });
  api.join();
  EXPECT_TRUE(stop.stopping());
  EXPECT_TRUE(stop.down_requested());
  EXPECT_EQ(stop.signal_number(), 0);
}

TEST(StopRequestTest, SignalIsReadNotHandled) {
  ASSERT_FALSE(Blocked(SIGTERM));
  {
    StopRequest stop;
    ASSERT_TRUE(stop.ListenForSignals().ok());
    EXPECT_TRUE(Blocked(SIGTERM));
    EXPECT_TRUE(Blocked(SIGINT));
    EXPECT_TRUE(Blocked(SIGHUP));
    EXPECT_FALSE(stop.stopping());
    // Blocked, so pending for this thread until the signalfd reads it
    // (without the block, SIGTERM would end the test program).
    ASSERT_EQ(::pthread_kill(::pthread_self(), SIGTERM), 0);
    EXPECT_TRUE(stop.stopping());
    EXPECT_EQ(stop.signal_number(), SIGTERM);
    EXPECT_FALSE(stop.down_requested());
    // The first signal is the one reported.
    ASSERT_EQ(::pthread_kill(::pthread_self(), SIGINT), 0);
    EXPECT_TRUE(stop.stopping());
    EXPECT_EQ(stop.signal_number(), SIGTERM);
    // Take the second one too, so that none is left pending when the mask
    // is given back.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    int got = 0;
    ASSERT_EQ(sigwait(&set, &got), 0);
    EXPECT_EQ(got, SIGINT);
  }
  EXPECT_FALSE(Blocked(SIGTERM));
  EXPECT_FALSE(Blocked(SIGINT));
}

}  // namespace
}  // namespace berth::run
