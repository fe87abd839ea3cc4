#include "run/event_feed.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace berth::run {
namespace {

using std::chrono::milliseconds;

nlohmann::ordered_json Event(const std::string& kind) { return {{"kind", kind}}; }

TEST(EventFeedTest, NumbersEventsAndReturnsThoseAfter) {
  EventFeed feed;
  feed.Append(Event("failed"));
  feed.Append(Event("restart_in"));
  EventFeed::Page all = feed.After(0, milliseconds(0));
  ASSERT_EQ(all.events.size(), 2U);
  EXPECT_EQ(all.events[0]["seq"], 1);
  EXPECT_EQ(all.events[1]["kind"], "restart_in");
  EXPECT_EQ(all.next, 2);
  EXPECT_EQ(all.first, 1);
  EventFeed::Page none = feed.After(2, milliseconds(0));
  EXPECT_TRUE(none.events.empty());
  EXPECT_EQ(none.next, 2);
}

TEST(EventFeedTest, AWaitingReaderGetsTheNextEventAsItComes) {
  EventFeed feed;
  std::thread writer([&] {
    std::this_thread::sleep_for(
        milliseconds(50));  // the reader is waiting by then, or not: both work
    feed.Append(Event("dropped"));
  });
  EventFeed::Page page = feed.After(0, milliseconds(10000));
  writer.join();
  ASSERT_EQ(page.events.size(), 1U);
  EXPECT_EQ(page.events[0]["kind"], "dropped");
}

TEST(EventFeedTest, CloseReleasesReaders) {
  EventFeed feed;
  std::thread closer([&] { feed.Close(); });
  EventFeed::Page page = feed.After(0, milliseconds(60000));
  closer.join();
  EXPECT_TRUE(page.events.empty());
}

TEST(EventFeedTest, KeepsTheNewestOnly) {
  EventFeed feed;
  for (size_t i = 0; i < EventFeed::kKeep + 5; ++i) feed.Append(Event("failed"));
  EventFeed::Page page = feed.After(0, milliseconds(0));
  EXPECT_EQ(page.events.size(), EventFeed::kKeep);
  EXPECT_EQ(page.first, 6);
}

}  // namespace
}  // namespace berth::run
