// link.h: one local Ethernet port that sends and receives AoE frames.
//
// The engine and discovery see only this interface: PacketLink is the real
// AF_PACKET socket, tests/support/fake_link.h an in-memory wire with fault
// knobs.  Sending never blocks and never allocates: a frame the NIC queue
// cannot take is dropped and counted, exactly like loss on the wire, and
// the sender's retransmission covers it.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <system_error>

#include "initiator/wire.h"

namespace aoe {

// The largest MTU we send or receive frames for (jumbo frames); a link
// with a larger one (loopback: 65536) is used as if it had this.
inline constexpr unsigned max_mtu = 9216;

struct LinkInfo {
  std::string name;     // interface name, e.g. "eth1"
  int ifindex = 0;
  wire::Mac mac{};
  unsigned mtu = 1500;  // Ethernet payload bytes (AoE header included)
};

class Link {
 public:
  // Called for every AoE frame received, on the io_context thread; the span
  // is valid only during the call.
  using Receiver = std::function<void(std::span<const std::byte> frame)>;

  virtual ~Link() = default;

  virtual const LinkInfo& info() const noexcept = 0;

  // Sends head followed by body as one frame (scatter-gather: write data
  // stays in the caller's buffer).  head must already be padded to the
  // Ethernet minimum when body is empty.  Returns false if the frame was
  // dropped locally.
  virtual bool send(std::span<const std::byte> head, std::span<const std::byte> body = {}) noexcept = 0;

  // One frame of a batch: head and body as send() takes them.
  struct Outgoing {
    std::span<const std::byte> head;
    std::span<const std::byte> body;
    bool sent = false;  // set by send_batch(): false if dropped locally
  };
  // Sends the frames in order, each as send() would, in as few system calls
  // as the link can (PacketLink: sendmmsg); marks each sent or dropped.
  virtual void send_batch(std::span<Outgoing> frames) noexcept {
    for (Outgoing& f : frames) f.sent = send(f.head, f.body);
  }

  virtual void set_receiver(Receiver receiver) = 0;
  // Hands the receiver, now, the frames that arrived and wait unread (as
  // the next wake-up would), so that a judgement of silence counts only
  // what the target did not send.  Called from inside the receiver, it does
  // nothing: the drain under way hands them over.
  virtual void receive_waiting() {}
  // Frames that passed the link's filter and found no room (PacketLink:
  // its ring full, or without one its socket buffer), since it was opened.
  // Not const: PacketLink reads the kernel's count, which reading resets.
  virtual std::uint64_t receive_drops() noexcept { return 0; }

  // Reads the interface again after rtnetlink said it changed: a new MTU or
  // MAC, or the same name re-created under a new ifindex (re-bound then).
  virtual std::error_code reopen() { return {}; }

  // Narrows what the link receives to one target's frames (PacketLink: its
  // kernel filter, initiator/frame_filter.h).  A narrowed link serves that
  // target alone: the Engine narrows the links of its paths.
  virtual void accept_only(std::uint16_t shelf, std::uint8_t slot) {
    (void)shelf;
    (void)slot;
  }

  // The most frames the Engine keeps in flight through this link at once
  // (its paths' windows here, initiator/path_health.h): the link may size
  // what it holds of received frames to it (PacketLink: its ring).
  virtual void expect_in_flight(unsigned frames) { (void)frames; }
};

}  // namespace aoe
