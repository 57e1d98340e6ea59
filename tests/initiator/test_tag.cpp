// The AoE tag layout (initiator/tag.h): what the target echoes back is how
// a reply finds its frame, and how ours are told from the kernel driver's.
#include "initiator/tag.h"

#include <catch2/catch.hpp>

using namespace aoe;

TEST_CASE("test-tag-engine-round-trips-slot-and-generation", "[tag]") {
  for (std::uint32_t slot : {0u, 1u, 513u, tag::slot_count - 1}) {
    for (std::uint32_t generation : {0u, 1u, 0x12345u, tag::generation_mask}) {
      const std::uint32_t t = tag::engine(slot, generation);
      CHECK(tag::slot_of(t) == slot);
      CHECK(tag::generation_of(t) == generation);
      CHECK(tag::is_ours(t));
      CHECK(tag::is_engine(t));
      CHECK_FALSE(tag::is_control(t));
    }
  }
}

TEST_CASE("test-tag-engine-fields-wrap-without-touching-the-flags", "[tag]") {
  // A generation past 2^20 wraps to 0 in the same slot; a slot past 1023
  // wraps too: neither ever sets bit 30 (control) or clears bit 31.
  const std::uint32_t t = tag::engine(5, tag::generation_mask + 1);
  CHECK(tag::slot_of(t) == 5);
  CHECK(tag::generation_of(t) == 0);
  CHECK(tag::is_engine(t));
  const std::uint32_t u = tag::engine(tag::slot_count + 3, 7);
  CHECK(tag::slot_of(u) == 3);
  CHECK(tag::generation_of(u) == 7);
  CHECK(tag::is_engine(u));
  // The next generation of a slot is a different tag: a late reply to the
  // previous transmission cannot be taken for the current one.
  CHECK(tag::engine(9, 41) != tag::engine(9, 42));
  CHECK(tag::engine(9, 41) != tag::engine(10, 41));
}

TEST_CASE("test-tag-control-round-trips-sequence", "[tag]") {
  for (std::uint32_t sequence : {0u, 1u, 0xABCDEFu, tag::control_sequence_mask}) {
    const std::uint32_t t = tag::control(sequence);
    CHECK((t & tag::control_sequence_mask) == sequence);
    CHECK(tag::is_ours(t));
    CHECK(tag::is_control(t));
    CHECK_FALSE(tag::is_engine(t));
  }
  // The sequence wraps within its 30 bits.
  CHECK(tag::control(tag::control_sequence_mask + 1) == tag::control(0));
}

TEST_CASE("test-tag-kernel-driver-tags-are-not-ours", "[tag]") {
  // The kernel aoe driver leaves bit 31 clear: such a reply is never taken
  // as an answer to us, whatever the other bits say.
  for (std::uint32_t t : {0u, 0x0000'0001u, 0x4000'0000u, 0x7FFF'FFFFu}) {
    CHECK_FALSE(tag::is_ours(t));
    CHECK_FALSE(tag::is_engine(t));
    CHECK_FALSE(tag::is_control(t));
  }
  CHECK(tag::userland_bit == 0x8000'0000u);
  CHECK(tag::control_bit == 0x4000'0000u);
  CHECK(tag::slot_count == 1024);
}
