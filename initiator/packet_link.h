// packet_link.h: the real Link, an AF_PACKET socket for EtherType 0x88A2
// bound to one interface (vblade's linux.c, behind Asio).
//
// Receiving reads the frames where the kernel put them, in a PACKET_RX_RING
// (TPACKET_V2, slots sized for the interface's MTU) mapped into our memory
// (initiator/rx_ring.h): a wake-up hands every ready frame to the receiver
// in place, with no copy and no system call per frame or batch.  Where the
// ring cannot be set up (memory, an old kernel) the link says so and drains
// its queue with recvmmsg instead, up to receive_batch frames per call.
// The ring survives the interface going away and coming back (the socket
// is re-bound under it) and is made anew when the MTU needs other slots.
// A batch of sends goes out through sendmmsg, send_batch frames per call
// (initiator/send_batch.h), by default past the interface's qdisc, straight
// to its driver (PacketLinkOptions::bypass_qdisc).  Our own transmissions, which AF_PACKET would
// loop back as PACKET_OUTGOING (a copy of every write frame), are refused
// by the socket (PACKET_IGNORE_OUTGOING) and, on kernels before 4.20, skipped.
//
// The socket carries the kernel filter of initiator/frame_filter.h, attached
// before it is bound (so nothing unfiltered is ever queued) and again when
// the NIC's MAC changes or accept_only() narrows it to one target.  Frames
// the kernel marks PACKET_OTHERHOST (addressed to another host: queued in
// the moment a MAC changes) are dropped here too, as a second line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include <boost/asio/generic/raw_protocol.hpp>
#include <boost/asio/io_context.hpp>

#include "initiator/frame_filter.h"
#include "initiator/link.h"
#include "initiator/rx_ring.h"

namespace aoe {

// How a PacketLink uses the socket; the defaults are the fast ones.
struct PacketLinkOptions {
  // Receive through a mapped ring; off: recvmmsg, as when the ring cannot
  // be set up (tests run both).
  bool receive_ring = true;
  // Transmit straight to the driver, past the interface's queueing
  // discipline (PACKET_QDISC_BYPASS): less work per frame.  Off keeps the
  // qdisc for those who shape or delay the initiator's own traffic with tc
  // (aoe-attach --tx-qdisc, man/aoe-attach.8).
  bool bypass_qdisc = true;
};

class PacketLink final : public Link {
 public:
  // Largest frame we accept: a 9216-byte jumbo MTU plus the Ethernet header.
  static constexpr std::size_t max_frame_size = max_mtu + wire::eth_header_size;
  // Frames per recvmmsg: a full window of a vblade port (Buffer Count 16)
  // with room for a second one.
  static constexpr unsigned receive_batch = 32;
  // Frames per sendmmsg: two windows of a vblade port.
  static constexpr unsigned send_batch_size = 32;
  // The receive ring (initiator/rx_ring.h): slots just large enough for a
  // frame of the interface's MTU (1648 bytes at MTU 1500, 9152 at 9000).
  // The kernel maps all of it into the process at once, so it counts in
  // every process's RSS (aoe-attach --all: one per target); a frame that
  // finds it full is dropped and resent, like loss.  Until the engine says
  // how many frames it keeps in flight (expect_in_flight), and at most:
  // ring_bytes, in blocks of 64 KiB (624 slots at MTU 1500, 112 jumbo),
  // room for a whole shelf's answers to one Query Config broadcast.  Then
  // ring_frames_per_frame_in_flight slots per frame in flight, at least
  // min_ring_frames: every reply of a full window, and as many late copies
  // and control answers, land even while the process waits for a CPU
  // (vblade's Buffer Count 16: 32 slots, 64 KiB at MTU 1500 and 320 KiB
  // at 9000).  Hence not the 4 MiB of the socket's receive buffer without
  // a ring either.
  static constexpr std::size_t ring_bytes = 1 << 20;
  static constexpr unsigned ring_frames_per_frame_in_flight = 2;
  static constexpr std::size_t min_ring_frames = 16;
  // Ring slots walked per wake-up before other work on the io_context runs
  // (the rest are walked right after it).
  static constexpr unsigned ring_walk_limit = 128;

  // Opens and binds the socket; fails with errc::interface_not_found or
  // errc::permission_denied (no CAP_NET_RAW), or the system error.
  static std::unique_ptr<PacketLink> open(boost::asio::io_context& io, const std::string& ifname,
                                          std::error_code& ec, PacketLinkOptions options = {});

  PacketLink(const PacketLink&) = delete;
  PacketLink& operator=(const PacketLink&) = delete;
  ~PacketLink() override;

  const LinkInfo& info() const noexcept override { return info_; }
  bool send(std::span<const std::byte> head, std::span<const std::byte> body = {}) noexcept override;
  void send_batch(std::span<Outgoing> frames) noexcept override;
  // Starts receiving on the first call; an empty receiver discards frames.
  void set_receiver(Receiver receiver) override;
  void receive_waiting() override;
  std::uint64_t receive_drops() noexcept override;
  std::error_code reopen() override;
  void accept_only(std::uint16_t shelf, std::uint8_t slot) override;
  // Makes the ring anew for `frames` in flight (see ring_bytes), soon
  // after the current handler returns: a receiver may be walking the ring.
  void expect_in_flight(unsigned frames) override;
  // Narrows what the socket receives to control exchanges and
  // announcements (frame_filter.h): for aoe-attach --all, which serves no I/O.
  void accept_control_only();

  // Frames dropped locally because the socket's send queue was full.
  std::uint64_t send_drops() const noexcept { return send_drops_; }
  // Whether frames arrive through the mapped ring (else recvmmsg).
  bool receives_through_ring() const noexcept { return ring_memory_ != nullptr; }
  // Slots of the ring (0 without one).
  std::size_t ring_frames() const noexcept { return ring_.frame_count(); }

 private:
  PacketLink(boost::asio::io_context& io, LinkInfo info);
  void map_ring();
  void unmap_ring();
  void remake_ring();
  void wait_readable();
  void resume_soon();
  bool drain();  // true: stopped at its limit, frames may be left
  bool drain_ring();
  bool drain_socket();  // recvmmsg, without a ring
  void take_socket_error();
  void apply_filter();

  boost::asio::generic::raw_protocol::socket socket_;  // bound to info_.ifindex
  LinkInfo info_;
  std::optional<filter::Target> only_;  // accept_only()'s target
  bool control_only_ = false;           // accept_control_only()
  Receiver receiver_;
  bool receiving_ = false;                                      // wait_readable() armed
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // guards late handlers
  std::uint64_t send_drops_ = 0;
  std::uint64_t receive_drops_ = 0;          // PACKET_STATISTICS' drops, summed (reading resets them)
  bool draining_ = false;                     // a drain is handing frames to the receiver
  struct ReceiveBatch;                    // recvmmsg's buffers, allocated once (without a ring)
  std::unique_ptr<ReceiveBatch> batch_;
  struct SendBatch;                       // sendmmsg's headers, allocated once
  std::unique_ptr<SendBatch> send_batch_;
  void* ring_memory_ = nullptr;           // the mapped PACKET_RX_RING, or null
  std::size_t ring_wanted_ = 0;           // slots expect_in_flight() asked for; 0: ring_bytes' worth
  RxRing ring_;
};

}  // namespace aoe
