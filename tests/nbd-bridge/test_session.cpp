#include "nbd-bridge/session.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <set>
#include <thread>

#include "tests/nbd-bridge/nbd_harness.h"

using namespace aoe::nbd;
using aoe::test::Bytes;
using aoe::test::Harness;
using aoe::test::RawClient;
using aoe::test::be;
using aoe::test::pattern;
using aoe::test::read_be;

TEST_CASE("test-nbd-handshake-go-then-io") {
  Harness h(1 << 20, ExportOptions{"disk", "test disk"});
  h.run();
  RawClient c(h.listener_fd());
  c.handshake_go(handshake_flags, false, "disk");
  CHECK(c.export_size == 1 << 20);
  CHECK(c.write(1000, pattern(3000, 1)) == 0);
  CHECK(c.read(1000, 3000) == pattern(3000, 1));
  CHECK(h.on_io([&] { return h.server.connection_count(); }) == 1);
}

TEST_CASE("test-nbd-handshake-unknown-option-data-skipped") {
  Harness h;
  h.run();
  RawClient c(h.listener_fd());
  c.receive(18);
  c.send(Bytes(4));  // client flags 0: not even FIXED_NEWSTYLE, still served
  // Unknown options with data are skipped without losing sync.
  for (std::uint32_t option : std::initializer_list<std::uint32_t>{opt_extended_headers, opt_starttls,
                                                                   opt_set_meta_context, 1000u}) {
    c.send_option(option, pattern(100, option));
    const auto reply = c.receive_option_reply();
    CHECK(reply.option == option);
    CHECK(reply.type == rep_err_unsup);
  }
  c.send_option(opt_export_name, Bytes{});
  const Bytes export_reply = c.receive(8 + 2 + 124);  // zeroes: NO_ZEROES not agreed
  CHECK(read_be(export_reply, 0, 8) == 1 << 20);
  CHECK(c.read(0, 512) == Bytes(512));
}

TEST_CASE("test-nbd-handshake-hostile-closes") {
  Harness h;
  h.run();
  SECTION("unknown client flag") {
    RawClient c(h.listener_fd());
    c.receive(18);
    c.send(Bytes{std::byte{0}, std::byte{0}, std::byte{0}, std::byte{4}});
    CHECK(c.closed_by_server());
  }
  SECTION("bad option magic") {
    RawClient c(h.listener_fd());
    c.receive(18);
    c.send(Bytes(4));
    c.send_option(opt_go, Bytes{}, 0x1122334455667788);
    CHECK(c.closed_by_server());
  }
  SECTION("absurd option length") {
    RawClient c(h.listener_fd());
    c.receive(18);
    c.send(Bytes(4));
    Bytes b;
    be(b, opt_magic, 8);
    be(b, 99, 4);
    be(b, 0xffffffff, 4);
    c.send(b);
    CHECK(c.closed_by_server());
  }
  SECTION("unknown export name") {
    RawClient c(h.listener_fd());
    c.receive(18);
    c.send(Bytes(4));
    c.send_option(opt_export_name, pattern(10, 3));
    CHECK(c.closed_by_server());
  }
  SECTION("abort") {
    RawClient c(h.listener_fd());
    c.receive(18);
    c.send(Bytes(4));
    c.send_option(opt_abort, Bytes{});
    CHECK(c.receive_option_reply().type == rep_ack);
    CHECK(c.closed_by_server());
  }
  SECTION("too many options") {
    RawClient c(h.listener_fd());
    c.receive(18);
    c.send(Bytes(4));
    for (unsigned i = 0; i < max_options; ++i) {
      c.send_option(opt_list, Bytes{});
      REQUIRE(c.receive_option_reply().type == rep_server);
      REQUIRE(c.receive_option_reply().type == rep_ack);
    }
    c.send_option(opt_list, Bytes{});
    CHECK(c.closed_by_server());
  }
  // The server is unharmed: a new client works.
  RawClient ok(h.listener_fd());
  ok.handshake_go();
  CHECK(ok.read(0, 512).size() == 512);
}

TEST_CASE("test-nbd-session-structured-read") {
  Harness h;
  h.run();
  RawClient c(h.listener_fd());
  c.handshake_go(handshake_flags, true);
  CHECK(c.write(4096, pattern(1000, 7)) == 0);  // non-reads keep simple replies
  c.request(cmd_read, 9, 4096, 1000);
  Bytes chunk = c.receive(20);
  CHECK(read_be(chunk, 0, 4) == structured_reply_magic);
  CHECK(read_be(chunk, 4, 2) == reply_flag_done);
  CHECK(read_be(chunk, 6, 2) == chunk_offset_data);
  CHECK(read_be(chunk, 8, 8) == 9);
  REQUIRE(read_be(chunk, 16, 4) == 1008);
  Bytes payload = c.receive(1008);
  CHECK(read_be(payload, 0, 8) == 4096);
  CHECK(Bytes(payload.begin() + 8, payload.end()) == pattern(1000, 7));

  h.on_io([&] { h.device.fail_op(1, aoe::errc::target_down); });
  c.request(cmd_read, 10, 0, 512);
  chunk = c.receive(20);
  CHECK(read_be(chunk, 6, 2) == chunk_error);
  REQUIRE(read_be(chunk, 16, 4) == 6);
  CHECK(read_be(c.receive(6), 0, 4) == err_io);

  c.request(cmd_read, 11, 0, 0);  // zero length: a NONE chunk
  chunk = c.receive(20);
  CHECK(read_be(chunk, 6, 2) == 0);
  CHECK(read_be(chunk, 16, 4) == 0);
}

TEST_CASE("test-nbd-session-out-of-order-replies") {
  Harness h(4 << 20);
  h.device.jitter = std::chrono::milliseconds(20);
  h.run();
  RawClient c(h.transmission_fd());
  for (std::uint64_t i = 0; i < 32; ++i) c.request(cmd_read, 100 + i, i * 4096, 4096);
  std::vector<std::uint64_t> order;
  for (int i = 0; i < 32; ++i) {
    const auto r = c.simple_reply();
    CHECK(r.error == 0);
    c.receive(4096);  // header and data arrive together
    order.push_back(r.cookie);
  }
  CHECK_FALSE(std::is_sorted(order.begin(), order.end()));
  std::sort(order.begin(), order.end());
  for (std::uint64_t i = 0; i < 32; ++i) CHECK(order[i] == 100 + i);
  CHECK(h.on_io([&] { return h.device.max_in_flight; }) > 1);
}

TEST_CASE("test-nbd-session-unaligned-rmw") {
  Harness h(1 << 20);
  h.device.jitter = std::chrono::milliseconds(2);
  h.run();
  RawClient c(h.transmission_fd());
  Bytes model(1 << 20);
  const std::pair<std::uint64_t, std::size_t> writes[] = {
      {1000, 3000}, {1, 1}, {511, 2}, {512, 512}, {100, 50}, {4095, 8194}, {(1 << 20) - 3, 3}, {70000, 200000}};
  unsigned seed = 0;
  for (auto [off, len] : writes) {
    const Bytes data = pattern(len, ++seed);
    std::copy(data.begin(), data.end(), model.begin() + static_cast<long>(off));
    REQUIRE(c.write(off, data) == 0);
  }
  CHECK(c.read(0, 1 << 20) == model);
  CHECK(c.read(511, 3) == Bytes(model.begin() + 511, model.begin() + 514));
  CHECK(h.on_io([&] { return h.device.rejected; }) == 0);  // never misaligned on the device
}

TEST_CASE("test-nbd-session-overlapping-writes-none-lost") {
  Harness h(64 * 1024);
  h.device.jitter = std::chrono::milliseconds(5);
  h.run();
  RawClient c(h.transmission_fd());
  Bytes model(64 * 1024);
  // A burst of overlapping unaligned writes, all in flight together.
  std::uint64_t cookie = 0;
  for (unsigned i = 0; i < 100; ++i) {
    const std::uint64_t off = (i * 937) % 20000;
    const Bytes data = pattern(100 + (i * 373) % 5000, i);
    std::copy(data.begin(), data.end(), model.begin() + static_cast<long>(off));
    c.request(cmd_write, ++cookie, off, static_cast<std::uint32_t>(data.size()), data);
  }
  std::set<std::uint64_t> seen;
  for (unsigned i = 0; i < 100; ++i) {
    const auto r = c.simple_reply();
    CHECK(r.error == 0);
    seen.insert(r.cookie);
  }
  CHECK(seen.size() == 100);
  CHECK(c.read(0, 64 * 1024) == model);  // arrival order wins, nothing lost
  CHECK(h.on_io([&] { return h.device.max_conflicting_overlap; }) == 0);
}

TEST_CASE("test-nbd-session-rejected-write-drained") {
  Harness h(1 << 20, ExportOptions{"", "", true});
  h.run();
  RawClient c(h.transmission_fd());
  // Read-only: EPERM, and the payload is skipped, not taken for a header.
  Bytes payload(8192);
  for (std::size_t i = 0; i < payload.size(); i += 28) payload[i] = std::byte{0x25};
  CHECK(c.write(0, payload) == err_perm);
  c.request(cmd_write, 3, 0, max_accepted_payload + 1, Bytes(max_accepted_payload + 1));  // drained
  CHECK(c.simple_reply().error == err_perm);
  c.request(99, 4, 0, 100);  // unknown command without payload
  CHECK(c.simple_reply().error == err_inval);
  CHECK(c.read(0, 512) == Bytes(512));
}

TEST_CASE("test-nbd-session-range-errors") {
  const std::uint64_t size = 64 << 20;
  Harness h(size);
  h.run();
  RawClient c(h.transmission_fd());
  CHECK(c.write(size - 10, Bytes(20)) == err_nospc);
  c.request(cmd_read, 5, size - 10, 20);
  CHECK(c.simple_reply().error == err_inval);
  c.request(cmd_write_zeroes, 7, 0, 4096, {}, cmd_flag_fast_zero);
  CHECK(c.simple_reply().error == err_notsup);
  c.request(cmd_read, 8, 0, 512, {}, 1 << 9);
  CHECK(c.simple_reply().error == err_inval);
  CHECK(c.read(0, 16) == Bytes(16));
}

// A client that never learned our maximum (EXPORT_NAME, as
// nbd-tester-client) is served up to max_accepted_payload, split into
// device requests; above it, EINVAL with the payload skipped, and the
// connection goes on.
TEST_CASE("test-nbd-session-large-request-split") {
  constexpr std::uint32_t part = 1u << 20;  // the device's largest request
  const std::uint64_t size = std::uint64_t{max_accepted_payload} + 8 * part;
  Harness h(size, {}, true, part);
  h.run();
  RawClient c(h.listener_fd());
  c.receive(18);
  c.send(Bytes(4));  // client flags 0: EXPORT_NAME only, no block sizes asked
  c.send_option(opt_export_name, Bytes{});
  c.receive(8 + 2 + 124);

  const std::uint32_t big = 49u << 20;  // nbd-tester-client's largest
  const Bytes data = pattern(big, 7);
  CHECK(c.write(4096, data, 1) == 0);
  CHECK(h.on_io([&] { return h.device.writes; }) == 49);
  CHECK(c.read(4096, big, 2) == data);
  CHECK(h.on_io([&] { return h.device.reads; }) == 49);
  CHECK(h.on_io([&] { return h.device.rejected; }) == 0);
  CHECK(std::equal(data.begin(), data.end(), h.device.data().begin() + 4096));

  // Above the bound: EINVAL, the WRITE's payload skipped, nothing sent on.
  c.request(cmd_write, 3, 0, max_accepted_payload + 512, Bytes(max_accepted_payload + 512, std::byte{1}));
  CHECK(c.simple_reply().error == err_inval);
  c.request(cmd_read, 4, 0, max_accepted_payload + 512);
  CHECK(c.simple_reply().error == err_inval);
  CHECK(h.on_io([&] { return h.device.ops; }) == 98);
  // The largest accepted, and the session still serves ordinary requests.
  CHECK(c.read(0, max_accepted_payload, 5).size() == max_accepted_payload);
  CHECK(c.read(4096, 512, 6) == Bytes(data.begin(), data.begin() + 512));
  // The buffer above the pool's classes went back to the system.
  CHECK(h.on_io([&] { return h.server.buffer_pool().own_bytes(); }) == 0);
}

// A part failing fails the whole request with its error; what follows it
// is not sent, and the connection goes on.
TEST_CASE("test-nbd-session-large-request-part-fails") {
  constexpr std::uint32_t part = 1u << 20;
  Harness h(8 * part, {}, true, part);
  h.run();
  RawClient c(h.transmission_fd());
  const Bytes data = pattern(3 * part, 1);
  h.on_io([&] { h.device.fail_op(2, aoe::errc::target_down); });  // the middle one of three
  CHECK(c.write(0, data, 1) == err_io);
  CHECK(h.on_io([&] { return h.device.writes; }) == 2);
  CHECK(c.read(part, part, 2) == Bytes(part));  // the failed part changed nothing
  h.on_io([&] { h.device.fail_op(2, aoe::errc::ata_media_error); });
  c.request(cmd_read, 3, 0, 3 * part);
  CHECK(c.simple_reply().error == err_io);  // and no data
  CHECK(c.read(0, 512, 4) == Bytes(data.begin(), data.begin() + 512));  // the first part landed
}

// Two clients over the advertised maximum: one buffer above the pool's
// classes exists at a time (the memory bound), so the second waits while
// the first's reply sits unread, and is served once it is read (no
// deadlock: the release wakes it).
TEST_CASE("test-nbd-session-large-requests-take-turns") {
  constexpr std::uint32_t part = 1u << 20, big = 40u << 20;
  Harness h(2 * std::uint64_t{big}, {}, true, part);
  h.run();
  RawClient first(h.transmission_fd());
  RawClient second(h.transmission_fd());
  first.request(cmd_read, 1, 0, big);  // a socket pair holds far less: the reply waits for us
  REQUIRE(h.eventually([&] { return h.device.reads == big / part; }));
  second.request(cmd_read, 2, big, big);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  CHECK(h.on_io([&] { return h.device.reads; }) == big / part);  // no second buffer meanwhile
  CHECK(h.on_io([&] { return h.server.buffer_pool().own_bytes(); }) == BufferPool::cost_of(big));
  const auto r1 = first.simple_reply();
  CHECK(r1.error == 0);
  CHECK(first.receive(big).size() == big);
  const auto r2 = second.simple_reply();
  CHECK(r2.cookie == 2);
  CHECK(r2.error == 0);
  CHECK(second.receive(big).size() == big);
  CHECK(h.on_io([&] { return h.device.reads; }) == 2 * big / part);
  CHECK(h.eventually([&] { return h.server.buffer_pool().own_bytes() == 0; }));
}

TEST_CASE("test-nbd-session-bad-magic-closes") {
  Harness h;
  h.run();
  RawClient c(h.transmission_fd());
  CHECK(c.write(0, Bytes(512)) == 0);
  c.request(cmd_read, 1, 0, 512, {}, 0, ext_request_magic);
  CHECK(c.closed_by_server());
  CHECK(h.eventually([&] { return h.server.connection_count() == 0; }));
  RawClient other(h.transmission_fd());  // others are unaffected
  CHECK(other.read(0, 512) == Bytes(512));
}

TEST_CASE("test-nbd-session-disc-drains") {
  Harness h;
  h.device.delay = std::chrono::milliseconds(100);
  h.run();
  RawClient c(h.transmission_fd());
  c.request(cmd_write, 1, 0, 4096, pattern(4096, 1));
  c.request(cmd_write, 2, 8192, 4096, pattern(4096, 2));
  c.request(cmd_disc, 3, 0, 0);
  std::set<std::uint64_t> cookies{c.simple_reply().cookie, c.simple_reply().cookie};
  CHECK(cookies == std::set<std::uint64_t>{1, 2});
  CHECK(c.closed_by_server());
  CHECK(h.on_io([&] {
    return std::equal(h.device.data().begin(), h.device.data().begin() + 4096, pattern(4096, 1).begin());
  }));
}

TEST_CASE("test-nbd-session-flush-and-fua") {
  Harness h;
  h.run();
  RawClient c(h.transmission_fd());
  CHECK(c.write(0, pattern(4096, 1), 1, cmd_flag_fua) == 0);
  CHECK(h.on_io([&] { return h.device.flushes; }) == 1);
  c.request(cmd_flush, 2, 0, 0);
  CHECK(c.simple_reply().error == 0);
  CHECK(h.on_io([&] { return h.device.flushes; }) == 2);
  c.request(cmd_write_zeroes, 3, 100, 4000, {}, cmd_flag_fua | cmd_flag_no_hole);
  CHECK(c.simple_reply().error == 0);
  CHECK(h.on_io([&] { return h.device.flushes; }) == 3);
  Bytes expect = pattern(4096, 1);
  std::fill(expect.begin() + 100, expect.end(), std::byte{0});
  CHECK(c.read(0, 4096) == expect);
}

TEST_CASE("test-nbd-session-device-error-eio") {
  Harness h;
  h.run();
  RawClient c(h.transmission_fd());
  h.on_io([&] { h.device.fail_op(1, aoe::errc::ata_media_error); });
  CHECK(c.write(0, Bytes(512)) == err_io);
  h.on_io([&] { h.device.fail_op(1, aoe::errc::shutting_down); });
  c.request(cmd_read, 4, 0, 512);
  CHECK(c.simple_reply().error == err_shutdown);  // no data follows an error
  CHECK(c.read(0, 512) == Bytes(512));
}

TEST_CASE("test-nbd-session-backpressure") {
  Harness h(1 << 20);
  h.device.delay = std::chrono::milliseconds(50);
  h.run();
  RawClient c(h.transmission_fd());
  for (std::uint64_t i = 0; i < 300; ++i) c.request(cmd_read, i, (i % 256) * 512, 512);
  for (int i = 0; i < 300; ++i) {
    REQUIRE(c.simple_reply().error == 0);
    c.receive(512);
  }
  CHECK(h.on_io([&] { return h.device.max_in_flight; }) <= Session::max_in_flight);
}

TEST_CASE("test-nbd-server-shutdown-drains") {
  Harness h;
  h.device.delay = std::chrono::milliseconds(100);
  h.run();
  RawClient c(h.transmission_fd());
  c.request(cmd_write, 1, 0, 4096, pattern(4096, 5));
  REQUIRE(h.eventually([&] { return h.device.in_flight > 0; }));
  h.stop();  // waits for shutdown's done
  CHECK(c.simple_reply().error == 0);
  CHECK(c.closed_by_server());
  CHECK(h.server.connection_count() == 0);
  CHECK(std::equal(h.device.data().begin(), h.device.data().begin() + 4096, pattern(4096, 5).begin()));
}

// What a client sent before the shutdown is answered, however close to it:
// for the kernel handing its device to the next aoe-attach, a request left
// unread on the closed connection waits for its timeout (minutes).
TEST_CASE("test-nbd-server-shutdown-answers-what-came-before") {
  Harness h;
  h.run();
  RawClient c(h.transmission_fd());
  REQUIRE(c.read(0, 512) == Bytes(512));  // in transmission, and idle
  auto done = h.on_io([&] {
    // Sent while the io thread is here: nobody read them before the shutdown.
    c.request(cmd_write, 7, 4096, 4096, pattern(4096, 3));
    c.request(cmd_flush, 8, 0, 0);
    auto shut = std::make_shared<std::promise<void>>();
    h.server.shutdown([shut] { shut->set_value(); });
    return shut->get_future();
  });
  const auto write = c.simple_reply();
  CHECK(write.cookie == 7);
  CHECK(write.error == 0);
  const auto flush = c.simple_reply();
  CHECK(flush.cookie == 8);
  CHECK(flush.error == 0);
  CHECK(c.closed_by_server());
  REQUIRE(done.wait_for(std::chrono::seconds(5)) == std::future_status::ready);
  CHECK(h.on_io([&] { return h.device.flushes; }) == 1);
  CHECK(std::equal(h.device.data().begin() + 4096, h.device.data().begin() + 8192, pattern(4096, 3).begin()));
}

TEST_CASE("test-nbd-server-listen-unix") {
  boost::asio::io_context io;
  aoe::test::MemoryDevice device(io, 1 << 20);
  char dir[] = "/tmp/nbd-listen-XXXXXX";
  REQUIRE(::mkdtemp(dir));
  const std::string path = std::string(dir) + "/sock";
  {  // a stale socket file left by a dead server is replaced
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    path.copy(addr.sun_path, sizeof addr.sun_path - 1);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    ::close(fd);
  }
  Server first(io, device, {});
  CHECK_FALSE(first.listen_unix(path));
  Server second(io, device, {});
  CHECK(second.listen_unix(path) == std::errc::address_in_use);  // live: refused
  const std::string file = std::string(dir) + "/file";
  std::fclose(std::fopen(file.c_str(), "w"));
  CHECK(second.listen_unix(file) == std::errc::file_exists);  // not a socket: left alone
  CHECK(second.listen_unix(std::string(200, 'x')) == std::errc::filename_too_long);
  CHECK((first.transmission_flags() & (tflag_has_flags | tflag_send_flush | tflag_send_fua | tflag_can_multi_conn |
                                       tflag_send_write_zeroes)) == (tflag_has_flags | tflag_send_flush | tflag_send_fua |
                                                                     tflag_can_multi_conn | tflag_send_write_zeroes));
  CHECK_FALSE(first.transmission_flags() & (tflag_read_only | tflag_send_trim));
  bool done = false;
  first.shutdown([&] { done = true; });
  io.run();
  CHECK(done);
  CHECK(::access(path.c_str(), F_OK) != 0);  // removed on shutdown
  ::unlink(file.c_str());
  ::rmdir(dir);
}

TEST_CASE("test-nbd-server-max-connections") {
  Harness h(1 << 20, ExportOptions{"", "", false, 2});
  h.run();
  RawClient a(h.listener_fd()), b(h.listener_fd());
  a.handshake_go();
  b.handshake_go();
  RawClient c(h.listener_fd());
  CHECK(c.closed_by_server());
  CHECK(a.read(0, 512).size() == 512);
}

TEST_CASE("test-nbd-session-requests-cut-anywhere") {
  // Writes (small payloads, and one too large to pass through the receive
  // buffer) then reads of the same ranges, sent as one stream in pieces cut
  // at every few bytes: each request is parsed whole whatever the cuts, and
  // each reply carries what was written.
  Harness h(4 << 20);
  h.run();
  RawClient c(h.transmission_fd());
  struct Io {
    std::uint64_t offset;
    std::uint32_t length;
  };
  std::vector<Io> ios;
  for (std::uint32_t i = 0; i < 24; ++i) ios.push_back({i * 8192u, 512u * (1 + i % 5)});
  ios.push_back({1u << 20, 200 * 1024});
  Bytes stream;
  auto header = [&](std::uint16_t type, std::uint64_t cookie, const Io& io) {
    be(stream, request_magic, 4);
    be(stream, 0, 2);
    be(stream, type, 2);
    be(stream, cookie, 8);
    be(stream, io.offset, 8);
    be(stream, io.length, 4);
  };
  for (std::size_t i = 0; i < ios.size(); ++i) {
    header(cmd_write, i, ios[i]);
    const Bytes data = pattern(ios[i].length, static_cast<unsigned>(i));
    stream.insert(stream.end(), data.begin(), data.end());
  }
  for (std::size_t i = 0; i < ios.size(); ++i) header(cmd_read, 1000 + i, ios[i]);
  for (std::size_t at = 0, step = 1; at < stream.size(); at += step, step = step % 61 + 13) {
    const auto end = std::min(stream.size(), at + step);
    c.send(Bytes(stream.begin() + static_cast<std::ptrdiff_t>(at), stream.begin() + static_cast<std::ptrdiff_t>(end)));
  }
  std::set<std::uint64_t> answered;
  for (std::size_t n = 0; n < 2 * ios.size(); ++n) {
    const auto r = c.simple_reply();
    REQUIRE(r.error == 0);
    if (r.cookie >= 1000) {
      const std::size_t i = r.cookie - 1000;
      REQUIRE(i < ios.size());
      CHECK(c.receive(ios[i].length) == pattern(ios[i].length, static_cast<unsigned>(i)));
    }
    CHECK(answered.insert(r.cookie).second);
  }
}
