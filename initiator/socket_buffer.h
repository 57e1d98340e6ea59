// socket_buffer.h: larger socket queues, for the AoE links and the NBD
// sockets alike.
#pragma once

#include <sys/socket.h>

namespace aoe {

// Sets SO_SNDBUF or SO_RCVBUF (`option`) to `bytes`.  Root may exceed
// net.core.{w,r}mem_max through the FORCE variant (`force_option`);
// otherwise the kernel takes what the limit allows.
inline void set_socket_buffer(int fd, int force_option, int option, int bytes) noexcept {
  if (::setsockopt(fd, SOL_SOCKET, force_option, &bytes, sizeof bytes) != 0)
    ::setsockopt(fd, SOL_SOCKET, option, &bytes, sizeof bytes);
}

}  // namespace aoe
