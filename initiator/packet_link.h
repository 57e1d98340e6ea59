// packet_link.h: the real Link, an AF_PACKET socket for EtherType 0x88A2
// bound to one interface (vblade's linux.c, behind Asio).
//
// Receiving waits for readability and then drains the queue with recvmmsg,
// up to receive_batch frames per system call, so a burst costs one wake-up
// and few calls; a batch of sends goes out through sendmmsg, send_batch
// frames per call (initiator/send_batch.h).  Our own transmissions, which AF_PACKET would loop back as
// PACKET_OUTGOING (a copy of every write frame), are refused by the socket
// (PACKET_IGNORE_OUTGOING) and, on kernels before 4.20, skipped.
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

namespace aoe {

class PacketLink final : public Link {
 public:
  // Largest frame we accept: a 9216-byte jumbo MTU plus the Ethernet header.
  static constexpr std::size_t max_frame_size = max_mtu + wire::eth_header_size;
  // Frames per recvmmsg: a full window of a vblade port (Buffer Count 16)
  // with room for a second one.
  static constexpr unsigned receive_batch = 32;
  // Frames per sendmmsg: two windows of a vblade port.
  static constexpr unsigned send_batch_size = 32;

  // Opens and binds the socket; fails with errc::interface_not_found or
  // errc::permission_denied (no CAP_NET_RAW), or the system error.
  static std::unique_ptr<PacketLink> open(boost::asio::io_context& io, const std::string& ifname,
                                          std::error_code& ec);

  PacketLink(const PacketLink&) = delete;
  PacketLink& operator=(const PacketLink&) = delete;
  ~PacketLink() override;

  const LinkInfo& info() const noexcept override { return info_; }
  bool send(std::span<const std::byte> head, std::span<const std::byte> body = {}) noexcept override;
  void send_batch(std::span<Outgoing> frames) noexcept override;
  // Starts receiving on the first call; an empty receiver discards frames.
  void set_receiver(Receiver receiver) override;
  std::error_code reopen() override;
  void accept_only(std::uint16_t shelf, std::uint8_t slot) override;
  // Narrows what the socket receives to control exchanges and
  // announcements (frame_filter.h): for aoe-attach --all, which serves no I/O.
  void accept_control_only();

  // Frames dropped locally because the socket's send queue was full.
  std::uint64_t send_drops() const noexcept { return send_drops_; }

 private:
  PacketLink(boost::asio::io_context& io, LinkInfo info);
  void wait_readable();
  void drain();
  void apply_filter();

  boost::asio::generic::raw_protocol::socket socket_;  // bound to info_.ifindex
  LinkInfo info_;
  std::optional<filter::Target> only_;  // accept_only()'s target
  bool control_only_ = false;           // accept_control_only()
  Receiver receiver_;
  bool receiving_ = false;                                      // wait_readable() armed
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // guards late handlers
  std::uint64_t send_drops_ = 0;
  struct ReceiveBatch;                    // recvmmsg's buffers, allocated once
  std::unique_ptr<ReceiveBatch> batch_;
  struct SendBatch;                       // sendmmsg's headers, allocated once
  std::unique_ptr<SendBatch> send_batch_;
};

}  // namespace aoe
