// The engine sends in batches (engine.h): the frames one burst of replies
// lets out go to the link in one call, and frames the link refuses in a
// batch are losses that the retransmission covers.
#include <numeric>

#include <catch2/catch.hpp>

#include "tests/initiator/engine_lab.h"

using namespace aoe;
using namespace aoe::test;

TEST_CASE("test-engine-refills-the-window-in-one-batch-per-burst", "[engine][batch]") {
  // 64 frames through a window of 16: the replies that one turn of the
  // io_context delivers free their slots together, and the frames that
  // take those slots go to the link in one call, not one call each.
  EngineLab lab;
  FakeLink& link = lab.wire().end(0);
  std::vector<std::byte> buf(64 * 1024);
  REQUIRE_FALSE(lab.read(0, buf));
  const auto& batches = link.batches;
  const std::size_t frames = std::accumulate(batches.begin(), batches.end(), std::size_t{0});
  CHECK(frames == 64);
  CHECK(frames == lab.engine->path_status()[0].frames_sent);
  CHECK(batches.front() > 1);
  CHECK(batches.size() <= frames / 4);
}

TEST_CASE("test-engine-frames-refused-in-a-batch-are-retransmitted", "[engine][batch]") {
  // The NIC queue takes 3 frames of the first batch of 8: the other 5 are
  // counted as local drops and sent again when they time out; the write
  // completes with every byte on the target.
  EngineLab lab({}, fast_options());
  FakeLink& link = lab.wire().end(0);
  link.queue_room = 3;
  auto data = std::vector<std::byte>(8 * 1024);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = std::byte(i * 13 + 1);
  std::optional<std::error_code> done;
  lab.engine->async_write(0, data, [&](std::error_code ec) { done = ec; });
  REQUIRE(link.batches == std::vector<std::size_t>{8});
  CHECK(lab.engine->path_status()[0].send_drops == 5);
  CHECK(lab.wire().sent_from(0).size() == 3);
  link.queue_room = SIZE_MAX;
  REQUIRE_FALSE(lab.wait(done));
  CHECK(std::equal(data.begin(), data.end(), lab.target().disk.begin()));
  CHECK(lab.engine->path_status()[0].retransmits >= 5);
}
