// reply_queue.h: the replies of one NBD connection waiting to be sent, and
// how several of them leave in one gathered write.
//
// One write per reply was the other half of the per-request cost at small
// sizes (receive_buffer.h is the first): replies that complete together now
// go out in one sendmsg of up to max_pieces buffers.  A write may stop
// anywhere, even inside a header: the queue remembers how much of its first
// reply is already sent, and a reply leaves the queue (and is released) only
// once its last byte is written.  No allocation: every reply has its slot.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <span>
#include <utility>

#include <boost/asio/buffer.hpp>

#include "nbd-bridge/buffer.h"
#include "nbd-bridge/protocol.h"

namespace aoe::nbd {

// A reply header, without allocating: the longest is OFFSET_DATA's.
struct ReplyHead {
  std::array<std::byte, chunk_header_size + 8> bytes{};
  std::size_t size = 0;
  template <std::size_t N>
  static ReplyHead of(const std::array<std::byte, N>& encoded) noexcept {
    static_assert(N <= chunk_header_size + 8);
    ReplyHead head;
    std::copy(encoded.begin(), encoded.end(), head.bytes.begin());
    head.size = N;
    return head;
  }
};

struct QueuedReply {
  ReplyHead head;
  Buffer data;
  std::size_t charged = 0;  // bytes of the connection's share released once sent
};

// Never more than Capacity replies wait (the session's max_in_flight), so a
// ring allocated with the session: a deque allocates as it moves.
template <std::size_t Capacity>
class ReplyQueue {
 public:
  // Buffers in one gathered write: Asio passes at most 64 to sendmsg.
  static constexpr std::size_t max_pieces = 64;
  using Pieces = std::array<boost::asio::const_buffer, max_pieces>;

  bool empty() const noexcept { return count_ == 0; }
  std::size_t size() const noexcept { return count_; }
  void push(QueuedReply reply) noexcept { slots_[(head_ + count_++) % Capacity] = std::move(reply); }
  // The first reply: sent in full (front_sent), or dropped with the
  // connection.
  QueuedReply pop() noexcept {
    sent_ -= std::min(sent_, bytes(slots_[head_]));
    --count_;
    return std::move(slots_[std::exchange(head_, (head_ + 1) % Capacity)]);
  }

  // The unsent bytes of the first replies, in order, as at most max_pieces
  // buffers in `out`; returns how many.
  std::size_t gather(Pieces& out) const noexcept {
    std::size_t used = 0, skip = sent_;
    for (std::size_t i = 0; i < count_ && used + 2 <= max_pieces; ++i) {
      const QueuedReply& r = slots_[(head_ + i) % Capacity];
      for (auto piece : {boost::asio::buffer(r.head.bytes.data(), r.head.size),
                         boost::asio::buffer(r.data.data(), r.data.size())}) {
        const std::size_t cut = std::min(skip, piece.size());
        skip -= cut;
        piece += cut;
        if (piece.size() > 0) out[used++] = piece;
      }
    }
    return used;
  }

  // `n` more bytes of what gather() offered were written.
  void sent(std::size_t n) noexcept { sent_ += n; }
  // Whether the first reply's last byte is written: it may leave (pop).
  bool front_sent() const noexcept { return count_ > 0 && sent_ >= bytes(slots_[head_]); }

 private:
  static std::size_t bytes(const QueuedReply& r) noexcept { return r.head.size + r.data.size(); }

  std::array<QueuedReply, Capacity> slots_;
  std::size_t head_ = 0, count_ = 0;
  std::size_t sent_ = 0;  // bytes written from the first reply on
};

}  // namespace aoe::nbd
