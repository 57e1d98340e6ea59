// receive_buffer.h: bytes read from an NBD client ahead of the request being
// parsed, so that one read takes in every request the socket holds.
//
// Reading each 28-byte header, then each payload, in a call of its own was
// most of the per-request cost at small sizes: a kernel at QD32 keeps many
// requests in the socket, and one read of all of them replaces two per
// request.  The session parses requests out of this buffer one by one with
// the same checks as before (docs/nbd-protocol.md §3), copies a WRITE's
// payload from it, and reads more only when no complete header is left.
// Pure: no I/O, so its edge cases (a header or a payload cut by a read) are
// tested without a socket.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>

#include "nbd-bridge/protocol.h"

namespace aoe::nbd {

class ReceiveBuffer {
 public:
  // Allocated once, with the connection.
  explicit ReceiveBuffer(std::size_t capacity) : bytes_(new std::byte[capacity]), capacity_(capacity) {}

  std::size_t capacity() const noexcept { return capacity_; }
  std::size_t buffered() const noexcept { return end_ - begin_; }

  // Where the next read lands: all the room after what is still buffered,
  // which first moves to the front (never more than a header's worth when
  // the session reads: it reads only once nothing complete is left).
  std::span<std::byte> space() noexcept {
    if (begin_ > 0) {
      std::memmove(bytes_.get(), bytes_.get() + begin_, buffered());
      end_ -= begin_;
      begin_ = 0;
    }
    return {bytes_.get() + end_, capacity_ - end_};
  }
  // `n` bytes were read into space().
  void filled(std::size_t n) noexcept { end_ += n; }

  // The next request header: ok (and consumed), need_more (nothing consumed),
  // or bad_magic (the connection cannot resync).
  Parse next_request(TransmissionRequest& out) noexcept {
    if (buffered() < request_header_size) return Parse::need_more;
    const Parse parsed = parse_request(std::span(bytes_.get() + begin_, request_header_size), out);
    if (parsed == Parse::ok) begin_ += request_header_size;
    return parsed;
  }

  // Moves up to out.size() buffered bytes (a payload's start) into `out`;
  // returns how many.
  std::size_t take(std::span<std::byte> out) noexcept {
    const std::size_t n = std::min(out.size(), buffered());
    if (n > 0) std::memcpy(out.data(), bytes_.get() + begin_, n);
    begin_ += n;
    return n;
  }
  // Drops up to `n` buffered bytes (a rejected payload's start); returns how many.
  std::size_t skip(std::size_t n) noexcept {
    n = std::min(n, buffered());
    begin_ += n;
    return n;
  }

 private:
  std::unique_ptr<std::byte[]> bytes_;
  std::size_t capacity_;
  std::size_t begin_ = 0, end_ = 0;  // buffered: [begin_, end_)
};

}  // namespace aoe::nbd
