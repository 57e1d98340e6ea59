// The kernel frame filter (initiator/frame_filter.h), run by the kernel
// itself: attached to a datagram socket pair, whose filter sees each
// datagram from its first byte as an AF_PACKET socket sees a frame from its
// destination MAC, and to a real PacketLink on a veth pair in a private
// network namespace (root only), where the kernel's own PACKET_OTHERHOST
// marking is exercised too.
#include "initiator/frame_filter.h"

#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "initiator/packet_link.h"
#include "initiator/tag.h"
#include "tests/support/skip.h"

using namespace aoe;

namespace {

const wire::Mac ours{0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
const wire::Mac other_host{0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
const wire::Mac target_port{0x02, 0x00, 0x00, 0x00, 0x00, 0x10};

struct Reply {
  wire::Header header;
  wire::Command command = wire::Command::ata;
  std::size_t cut = 0;  // bytes taken off the end (a runt)
  std::uint8_t flags_byte = 0;  // nonzero: overwrite the version/flags byte
  std::uint16_t ethertype = wire::ethertype;
};

Reply reply_to(const wire::Mac& dst) {
  Reply r;
  r.header.dst = dst;
  r.header.src = target_port;
  r.header.response = true;
  r.header.shelf = 1;
  r.header.slot = 2;
  r.header.tag = tag::engine(5, 77);
  return r;
}

std::vector<std::byte> bytes(const Reply& r) {
  std::vector<std::byte> out(wire::max_config_string + 64);
  wire::Header h = r.header;
  h.command = r.command;
  std::size_t n = r.command == wire::Command::query_config ? wire::encode(h, wire::ConfigArg{}, out)
                                                           : wire::encode(h, wire::ata_read(0, 2, true), out);
  REQUIRE(n > 0);
  out.resize(n - r.cut);
  if (r.flags_byte) out[14] = std::byte{r.flags_byte};
  out[12] = std::byte(r.ethertype >> 8);
  out[13] = std::byte(r.ethertype & 0xff);
  return out;
}

// A datagram socket pair whose receiving end carries the program.
class FilteredPair {
 public:
  explicit FilteredPair(const std::vector<sock_filter>& program) {
    REQUIRE(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fd_) == 0);
    REQUIRE_FALSE(filter::attach(fd_[1], program));  // the kernel's verifier accepts it
  }
  ~FilteredPair() {
    ::close(fd_[0]);
    ::close(fd_[1]);
  }
  bool passes(const Reply& r) {
    auto frame = bytes(r);
    REQUIRE(::send(fd_[0], frame.data(), frame.size(), 0) == static_cast<ssize_t>(frame.size()));
    std::vector<std::byte> in(frame.size() + 1);
    ssize_t n = ::recv(fd_[1], in.data(), in.size(), MSG_DONTWAIT);
    if (n < 0) return false;
    CHECK(static_cast<std::size_t>(n) == frame.size());  // kept whole
    return true;
  }

 private:
  int fd_[2] = {-1, -1};
};

}  // namespace

TEST_CASE("test-frames-filter-passes-only-answers-for-this-host", "[frames]") {
  FilteredPair nic(filter::program(ours));
  CHECK(nic.passes(reply_to(ours)));
  CHECK(nic.passes(reply_to(wire::broadcast_mac)));
  CHECK_FALSE(nic.passes(reply_to(other_host)));  // seen on a flooding segment: another host's
  wire::Mac almost = ours;
  almost[5] ^= 1;
  CHECK_FALSE(nic.passes(reply_to(almost)));
  almost = ours;
  almost[0] ^= 0x80;
  CHECK_FALSE(nic.passes(reply_to(almost)));

  Reply request = reply_to(ours);
  request.header.response = false;  // another initiator's request
  CHECK_FALSE(nic.passes(request));
  Reply error = reply_to(ours);
  error.header.error = true;
  error.header.error_code = 2;
  CHECK(nic.passes(error));
  Reply version2 = reply_to(ours);
  version2.flags_byte = 0x28;
  CHECK_FALSE(nic.passes(version2));
  Reply ip = reply_to(ours);
  ip.ethertype = 0x0800;
  CHECK_FALSE(nic.passes(ip));
  Reply runt = reply_to(ours);  // too short for the tag: never passes
  runt.cut = 60 - 22;
  CHECK_FALSE(nic.passes(runt));

  // The kernel aoe module's tags (bit 31 clear) are not ours; tag 0 passes
  // only as a Query Config answer (vblade's announcement).
  Reply kernel = reply_to(ours);
  kernel.header.tag = 0x0001'2345;
  CHECK_FALSE(nic.passes(kernel));
  Reply announcement = reply_to(wire::broadcast_mac);
  announcement.header.tag = 0;
  announcement.command = wire::Command::query_config;
  CHECK(nic.passes(announcement));
  Reply zero_ata = reply_to(ours);
  zero_ata.header.tag = 0;
  CHECK_FALSE(nic.passes(zero_ata));

  // vblade's announcement carries version 0: it passes, to any
  // destination; nothing else of version 0 does.
  Reply versionless = announcement;
  versionless.flags_byte = 0x08;
  CHECK(nic.passes(versionless));
  versionless.header.dst = other_host;
  CHECK(nic.passes(versionless));
  Reply versionless_ata = reply_to(ours);
  versionless_ata.flags_byte = 0x08;
  CHECK_FALSE(nic.passes(versionless_ata));
  versionless_ata.header.tag = 0;
  CHECK_FALSE(nic.passes(versionless_ata));
  Reply versionless_request = announcement;
  versionless_request.flags_byte = 0x01;  // version 0 without R: a request
  CHECK_FALSE(nic.passes(versionless_request));

  // Every target passes without a target clause.
  Reply elsewhere = reply_to(ours);
  elsewhere.header.shelf = 9;
  elsewhere.header.slot = 7;
  CHECK(nic.passes(elsewhere));
}

TEST_CASE("test-frames-filter-narrowed-to-one-target", "[frames]") {
  FilteredPair nic(filter::program(ours, filter::Target{1, 2}));
  CHECK(nic.passes(reply_to(ours)));
  Reply control = reply_to(ours);
  control.header.tag = tag::control(99);
  control.command = wire::Command::query_config;
  CHECK(nic.passes(control));  // Query Config, IDENTIFY, config string: the same shelf.slot
  Reply announcement = reply_to(wire::broadcast_mac);
  announcement.header.tag = 0;
  announcement.command = wire::Command::query_config;
  CHECK(nic.passes(announcement));
  Reply neighbour = reply_to(ours);  // the next target of the shelf, on the same NIC
  neighbour.header.slot = 3;
  CHECK_FALSE(nic.passes(neighbour));
  neighbour = reply_to(ours);
  neighbour.header.shelf = 0x0102;  // same low byte as shelf 2
  CHECK_FALSE(nic.passes(neighbour));
  Reply versionless = announcement;
  versionless.flags_byte = 0x08;
  CHECK(nic.passes(versionless));
  announcement.header.slot = 3;
  CHECK_FALSE(nic.passes(announcement));
  versionless.header.slot = 3;
  CHECK_FALSE(nic.passes(versionless));
  CHECK_FALSE(nic.passes(reply_to(other_host)));
}

// aoe-attach --all's links: control answers and announcements of any
// target, no I/O answer (its children's).
TEST_CASE("test-frames-filter-control-only", "[frames]") {
  FilteredPair nic(filter::program(ours, std::nullopt, true));
  CHECK_FALSE(nic.passes(reply_to(ours)));  // an engine's I/O answer
  Reply control = reply_to(ours);
  control.header.tag = tag::control(99);
  control.header.shelf = 7;
  control.command = wire::Command::query_config;
  CHECK(nic.passes(control));
  Reply announcement = reply_to(wire::broadcast_mac);
  announcement.header.tag = 0;
  announcement.header.slot = 9;
  announcement.command = wire::Command::query_config;
  CHECK(nic.passes(announcement));
  announcement.flags_byte = 0x08;  // vblade's, version 0
  CHECK(nic.passes(announcement));
  Reply zero_ata = reply_to(ours);
  zero_ata.header.tag = 0;
  CHECK_FALSE(nic.passes(zero_ata));
  Reply kernel = reply_to(ours);  // bit 30 set, bit 31 clear: the aoe module's
  kernel.header.tag = tag::control_bit | 5;
  kernel.command = wire::Command::query_config;
  CHECK_FALSE(nic.passes(kernel));
  control.header.dst = other_host;
  CHECK_FALSE(nic.passes(control));
}

// A real PacketLink on one end of a veth pair, a raw socket on the other
// playing every host of the segment.
TEST_CASE("test-frames-filter-packet-link-drops-other-hosts-frames", "[frames]") {
  if (::unshare(CLONE_NEWNET) != 0) AOE_SKIP("cannot create a network namespace (needs root)");
  REQUIRE(std::system("ip link add f0 address 02:00:00:00:00:01 type veth peer name f1 address 02:00:00:00:00:10 "
                      "&& ip link set f0 up && ip link set f1 up && ip link set f0 promisc on") == 0);
  boost::asio::io_context io;
  std::error_code ec;
  // The filter runs before the ring as before the socket's queue: both
  // ways of receiving drop the same frames.
  PacketLinkOptions options;
  options.receive_ring = GENERATE(true, false);
  auto link = PacketLink::open(io, "f0", ec, options);
  REQUIRE(link);
  REQUIRE(link->info().mac == ours);
  CHECK(link->receives_through_ring() == options.receive_ring);
  std::vector<std::vector<std::byte>> received;
  link->set_receiver([&](std::span<const std::byte> f) { received.emplace_back(f.begin(), f.end()); });
  auto peer = PacketLink::open(io, "f1", ec);
  REQUIRE(peer);

  // Sends each frame from f1, then a marker to us that must arrive: what
  // came before it and is not there was dropped.
  std::uint32_t marker = 1000;
  auto delivered = [&](const Reply& r) {
    received.clear();
    auto frame = bytes(r);
    REQUIRE(peer->send(frame));
    Reply m = reply_to(ours);
    m.header.tag = tag::engine(0, ++marker);
    REQUIRE(peer->send(bytes(m)));
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    auto has_marker = [&] {
      wire::Header h;
      return !received.empty() && !wire::decode_header(received.back(), h) && h.tag == m.header.tag;
    };
    while (!has_marker() && std::chrono::steady_clock::now() < end) io.run_for(std::chrono::milliseconds(10));
    REQUIRE(has_marker());
    return received.size() == 2;
  };

  CHECK(delivered(reply_to(ours)));
  CHECK(delivered(reply_to(wire::broadcast_mac)));
  CHECK_FALSE(delivered(reply_to(other_host)));  // f0 is promiscuous: only the filter stops it

  link->accept_only(1, 2);
  Reply neighbour = reply_to(ours);
  neighbour.header.slot = 3;
  CHECK_FALSE(delivered(neighbour));
  CHECK(delivered(reply_to(ours)));

  // The NIC's MAC changes: until the link is reopened its filter still
  // passes the old address, which the kernel now marks PACKET_OTHERHOST;
  // the link drops those itself.
  REQUIRE(std::system("ip link set f0 address 02:00:00:00:00:03") == 0);
  const wire::Mac renamed{0x02, 0, 0, 0, 0, 0x03};
  Reply to_renamed = reply_to(renamed);
  auto delivered_after_marker_to = [&](const Reply& r, const wire::Mac& now) {
    received.clear();
    REQUIRE(peer->send(bytes(r)));
    Reply m = reply_to(now);
    m.header.tag = tag::engine(0, ++marker);
    REQUIRE(peer->send(bytes(m)));
    io.run_for(std::chrono::milliseconds(300));
    return received.size();
  };
  CHECK(delivered_after_marker_to(reply_to(ours), ours) == 0);  // old MAC: OTHERHOST, dropped in user space
  REQUIRE_FALSE(link->reopen());
  CHECK(link->info().mac == renamed);
  CHECK(delivered_after_marker_to(to_renamed, renamed) == 2);  // the new filter passes the new MAC
  CHECK(delivered_after_marker_to(reply_to(ours), renamed) == 1);  // and no longer the old one
}
