// send_batch.h: a batch of frames through sendmmsg, and what to do when it
// takes fewer than it was given.
//
// sendmmsg sends messages in order and stops at the first it cannot send:
// it returns how many went, or fails for that first one.  A frame the
// socket cannot take is dropped like loss on the wire (link.h), so the call
// never waits: a full queue (EAGAIN, ENOBUFS) or a link that is gone
// (ENETDOWN, ENXIO) drops the rest of the batch, which would fail the same
// way; a frame the link refuses on its own account (EMSGSIZE: longer than
// the MTU it now has) is dropped alone and the rest still go.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <span>

#include <sys/socket.h>

namespace aoe {

// Sends every message with send_many (sendmmsg's shape: messages, count;
// returns how many went, or -errno for the first); sent[i] says whether
// message i went.  Returns how many went.
template <typename SendMany>
std::size_t send_messages(std::span<mmsghdr> messages, std::span<bool> sent, SendMany&& send_many) {
  std::size_t next = 0, went = 0;
  while (next < messages.size()) {
    const int n = send_many(messages.data() + next, static_cast<unsigned>(messages.size() - next));
    if (n > 0) {
      const auto taken = std::min(static_cast<std::size_t>(n), messages.size() - next);
      for (std::size_t i = 0; i < taken; ++i) sent[next++] = true;
      went += taken;
    } else if (n == -EINTR) {
      continue;
    } else if (n == -EMSGSIZE) {
      sent[next++] = false;  // this frame alone
    } else {
      for (; next < messages.size(); ++next) sent[next] = false;
      break;
    }
  }
  return went;
}

}  // namespace aoe
