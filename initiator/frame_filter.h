// frame_filter.h: the classic BPF program on every AF_PACKET socket, so the
// kernel drops what is not an answer for this host before it is copied to
// user space (docs/aoe-protocol.md §2, §2.5, §2.6).
//
// A frame passes only if all of these hold:
//   - EtherType 0x88A2, version 1 and the response flag set (requests are
//     other initiators' traffic); version 0 only for vblade's
//     announcement, which carries it (tag 0, Query Config, any destination);
//   - destination = this NIC's MAC or broadcast: on a bridge port, a hub or
//     a switch flooding an aged-out MAC table, a promiscuous NIC also sees
//     replies meant for other hosts, and those may carry our tags;
//   - tag bit 31 set (a userland tag, tag.h), or tag 0 on a Query Config
//     response: vblade's unsolicited announcement.  The kernel aoe module's
//     replies (bit 31 clear) stay out;
//   - with a target: its shelf.slot.  An aoe-attach serves one target and
//     one link per NIC carries both its engine and its control exchanges
//     (Query Config, IDENTIFY, config string, announcements), which all
//     carry that shelf.slot; a shelf of targets on one NIC then costs each
//     daemon only its own frames;
//   - control only (aoe-attach --all, docs/shelf.md): tag bits 31 and 30
//     set (our control exchanges) or an announcement; the I/O answers of
//     the targets its children serve stay out.
//
// The program is built by a pure function and tested through the kernel
// (tests/initiator/test_frame_filter.cpp).
#pragma once

#include <linux/filter.h>

#include <cstdint>
#include <optional>
#include <system_error>
#include <vector>

#include "initiator/wire.h"

namespace aoe::filter {

using Target = wire::TargetId;

// The program for a socket on the NIC whose MAC is `local`; with `only`,
// narrowed to that target's frames; with `control_only`, to control frames.
std::vector<sock_filter> program(const wire::Mac& local, std::optional<Target> only = std::nullopt,
                                 bool control_only = false);

// Attaches (or replaces) the socket's filter (SO_ATTACH_FILTER).
std::error_code attach(int fd, const std::vector<sock_filter>& program);

}  // namespace aoe::filter
