// relay_policy.h: the pure core of aoe-relay, a two-port "switch with faults"
// for the fault-injection tests (this kernel has no netem).
//
// Policy decides, per frame and from its own seeded generator, whether the
// frame is lost, too big for the hop, damaged, duplicated, held back for
// reordering, and how long it is delayed.  Pipeline applies those decisions
// over time: it owns delayed and held copies and hands frames to a sink in
// the order the far side would see them.  Neither touches a socket or a
// clock, so both are unit-tested (tests/relay/test_relay_policy.cpp) and a
// run is reproducible under a seed given the same arrival sequence.
//
// Corruption models what a real switch can deliver, not arbitrary bit rot:
// Ethernet's FCS drops any frame whose bytes were damaged in flight, and AoE
// has no checksum of its own, so a flipped data byte that got through would
// be silent data corruption no initiator could detect.  What does get through
// is a frame cut short (a broken cut-through hop) or one whose AoE header no
// longer addresses this exchange.  So --corrupt either truncates the frame
// (never into the Ethernet header) or damages exactly one AoE header field in
// a way the receiver must reject: the version nibble, the shelf/slot (never
// into a broadcast address) or the command (into an unassigned one).  Flags,
// error code, tag and the ATA argument are never touched: damage there would
// be a different valid frame (an error reply, another frame's tag), which no
// protocol can tell from the truth.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <utility>
#include <vector>

namespace aoe::relay {

using Clock = std::chrono::steady_clock;
using Micros = std::chrono::microseconds;

// xoshiro256** seeded through splitmix64: the same numbers on every
// platform and standard library (std:: distributions are not).
class Rng {
 public:
  explicit Rng(std::uint64_t seed) noexcept;
  std::uint64_t next() noexcept;
  double uniform() noexcept;                                   // [0, 1)
  std::uint64_t below(std::uint64_t n) noexcept;               // [0, n), n > 0
  bool chance(double p) noexcept;                              // true with probability p

 private:
  std::uint64_t s_[4];
};

// The faults of one direction.  Probabilities are in [0, 1].
struct Faults {
  double loss = 0;
  double duplicate = 0;
  double reorder = 0;                // hold the frame and send it after the next one
  double corrupt = 0;
  Micros delay{0};
  Micros jitter{0};                  // extra delay, uniform in [0, jitter]
  std::size_t max_frame = 0;         // bytes from the Ethernet header on; 0 = no limit
  Micros hold_timeout{20'000};       // a held frame goes anyway when no next one comes
};

enum class Verdict : std::uint8_t { deliver, lost, oversize };
enum class Damage : std::uint8_t { none, truncate, version, shelf, slot, command };

struct Decision {
  Verdict verdict = Verdict::deliver;
  Damage damage = Damage::none;
  std::size_t truncate_to = 0;       // Damage::truncate: new length
  std::size_t offset = 0;            // header damage: the byte flipped
  std::uint8_t mask = 0;             // header damage: XOR value (nonzero)
  unsigned copies = 1;               // 2 when duplicated
  bool hold = false;                 // reorder: goes out after the next frame
  Micros delay[2]{};                 // per copy
};

// Byte offsets of the AoE header fields in a frame (docs/aoe-protocol.md §2).
inline constexpr std::size_t eth_header_size = 14;
inline constexpr std::size_t aoe_ver_flags_offset = 14;
inline constexpr std::size_t aoe_shelf_offset = 16;  // 2 bytes, big-endian
inline constexpr std::size_t aoe_slot_offset = 18;
inline constexpr std::size_t aoe_command_offset = 19;
inline constexpr std::size_t aoe_header_end = 24;

class Policy {
 public:
  Policy(Faults faults, std::uint64_t seed) noexcept : faults_(faults), rng_(seed) {}
  Decision decide(std::span<const std::byte> frame) noexcept;
  const Faults& faults() const noexcept { return faults_; }

 private:
  Faults faults_;
  Rng rng_;
};

// Applies a decision's damage in place; returns the frame's new length.
// Frames too short to carry an AoE header are left alone.
std::size_t apply_damage(std::span<std::byte> frame, const Decision& decision) noexcept;

struct Counters {
  std::uint64_t received = 0;
  std::uint64_t delivered = 0;       // handed to the sink (copies count)
  std::uint64_t lost = 0;
  std::uint64_t oversize = 0;
  std::uint64_t duplicated = 0;
  std::uint64_t reordered = 0;       // held frames that went out after a later one
  std::uint64_t hold_timeouts = 0;   // held frames that went out alone
  std::uint64_t delayed = 0;
  std::uint64_t truncated = 0;
  std::uint64_t header_damaged = 0;
  std::uint64_t queue_full = 0;      // our own drops: too many delayed frames
};

// One direction of the relay over time.  Sink returns false when it could not
// send (our own drop, counted by the caller).
class Pipeline {
 public:
  using Sink = std::function<void(std::span<const std::byte>)>;

  Pipeline(Faults faults, std::uint64_t seed, std::size_t queue_limit = 65536)
      : policy_(faults, seed), queue_limit_(queue_limit) {}

  // A frame arrived at `now`: decide its fate and send whatever is due.
  void push(std::span<const std::byte> frame, Clock::time_point now, const Sink& sink);
  // Sends what is due at `now` (delayed frames, a held frame past its timeout).
  void release(Clock::time_point now, const Sink& sink);
  // Sends everything still queued or held, in order (shutdown).
  void flush(const Sink& sink);
  // When release() next has something to do.
  std::optional<Clock::time_point> next_deadline() const;

  const Counters& counters() const noexcept { return counters_; }
  std::size_t queued() const noexcept { return queue_.size() + (held_ ? 1 : 0); }

 private:
  struct Entry {
    std::vector<std::byte> bytes;
    bool hold = false;
  };
  void emit(Entry entry, Clock::time_point now, const Sink& sink);
  void send(const Entry& entry, const Sink& sink);
  std::vector<std::byte> take_buffer(std::span<const std::byte> frame);
  void give_buffer(std::vector<std::byte> buffer);

  Policy policy_;
  std::size_t queue_limit_;
  std::uint64_t sequence_ = 0;       // keeps equal release times in arrival order
  std::map<std::pair<Clock::time_point, std::uint64_t>, Entry> queue_;
  std::optional<Entry> held_;
  Clock::time_point held_until_{};
  std::vector<std::vector<std::byte>> spare_;  // recycled frame buffers
  Counters counters_;
};

}  // namespace aoe::relay
