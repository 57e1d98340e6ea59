#include "nbd-bridge/protocol.h"

#include <catch2/catch.hpp>

#include <cerrno>
#include <string>

#include "tests/nbd-bridge/test_bytes.h"

using namespace aoe::nbd;
using aoe::test::Bytes;
using aoe::test::be;
using aoe::test::read_be;

namespace {

const ExportInfo disk{"disk", "a test disk", 1 << 20,
                      tflag_has_flags | tflag_send_flush | tflag_send_fua | tflag_send_write_zeroes};

Bytes info_data(std::string_view name, std::initializer_list<std::uint16_t> requests) {
  Bytes d;
  be(d, name.size(), 4);
  for (char c : name) d.push_back(static_cast<std::byte>(c));
  be(d, requests.size(), 2);
  for (auto r : requests) be(d, r, 2);
  return d;
}

OptionOutcome answer(std::uint32_t option, const Bytes& data, HandshakeState& state,
                     const ExportInfo& e = disk) {
  OptionHeader h{option, static_cast<std::uint32_t>(data.size())};
  return answer_option(h, option_wants_data(h) ? std::span<const std::byte>(data) : std::span<const std::byte>{},
                       e, state);
}

// Splits option replies: (option, type, data) triples.
struct OptReply {
  std::uint32_t option, type;
  Bytes data;
};
std::vector<OptReply> split_replies(const Bytes& b) {
  std::vector<OptReply> out;
  for (std::size_t at = 0; at < b.size();) {
    REQUIRE(b.size() - at >= 20);
    REQUIRE(read_be(b, at, 8) == rep_magic);
    const auto len = read_be(b, at + 16, 4);
    REQUIRE(b.size() - at - 20 >= len);
    out.push_back({static_cast<std::uint32_t>(read_be(b, at + 8, 4)), static_cast<std::uint32_t>(read_be(b, at + 12, 4)),
                   Bytes(b.begin() + static_cast<long>(at + 20), b.begin() + static_cast<long>(at + 20 + len))});
    at += 20 + len;
  }
  return out;
}

Bytes request_bytes(std::uint32_t magic, std::uint16_t flags, std::uint16_t type, std::uint64_t cookie,
                    std::uint64_t offset, std::uint32_t length) {
  Bytes b;
  be(b, magic, 4);
  be(b, flags, 2);
  be(b, type, 2);
  be(b, cookie, 8);
  be(b, offset, 8);
  be(b, length, 4);
  return b;
}

}  // namespace

TEST_CASE("test-nbd-protocol-greeting-bytes") {
  const auto g = encode_greeting();
  REQUIRE(read_be(Bytes(g.begin(), g.end()), 0, 8) == 0x4e42444d41474943);
  REQUIRE(read_be(Bytes(g.begin(), g.end()), 8, 8) == 0x49484156454F5054);
  REQUIRE(read_be(Bytes(g.begin(), g.end()), 16, 2) == 3);
}

TEST_CASE("test-nbd-protocol-client-flags") {
  CHECK(client_flags_ok(0));
  CHECK(client_flags_ok(1));
  CHECK(client_flags_ok(3));
  CHECK_FALSE(client_flags_ok(4));
  CHECK_FALSE(client_flags_ok(0x80000001));
}

TEST_CASE("test-nbd-protocol-option-header") {
  Bytes b;
  be(b, opt_magic, 8);
  be(b, opt_go, 4);
  be(b, 10, 4);
  OptionHeader h;
  REQUIRE(parse_option_header(std::span(b).first(15), h) == Parse::need_more);
  REQUIRE(parse_option_header(b, h) == Parse::ok);
  CHECK(h.option == opt_go);
  CHECK(h.length == 10);

  Bytes too_long = b;
  too_long[12] = std::byte{0x04};  // 64 MiB + 10
  CHECK(parse_option_header(too_long, h) == Parse::too_long);
  Bytes bad = b;
  bad[0] = std::byte{0};
  CHECK(parse_option_header(bad, h) == Parse::bad_magic);
}

TEST_CASE("test-nbd-protocol-info-request-lengths") {
  InfoRequest r;  // its name views the data
  const auto data = info_data("disk", {info_name, info_block_size});
  REQUIRE(parse_info_request(data, r));
  CHECK(r.name == "disk");
  CHECK(r.requests == std::vector<std::uint16_t>{info_name, info_block_size});
  const auto empty = info_data("", {});
  REQUIRE(parse_info_request(empty, r));
  CHECK(r.name.empty());

  CHECK_FALSE(parse_info_request(Bytes(5), r));  // shorter than 4 + 2
  auto extra = info_data("disk", {1});
  extra.push_back(std::byte{0});
  CHECK_FALSE(parse_info_request(extra, r));  // 4+N+2+2k < L
  auto missing = info_data("disk", {1, 2});
  missing.pop_back();
  CHECK_FALSE(parse_info_request(missing, r));  // odd: k says more than there is
  auto huge_name = info_data("disk", {});
  huge_name[0] = std::byte{0xff};  // N far beyond L - 6
  CHECK_FALSE(parse_info_request(huge_name, r));
  auto n_eq = info_data("disk", {});
  n_eq[3] = std::byte{5};  // N = L - 5: leaves no room for k
  CHECK_FALSE(parse_info_request(n_eq, r));
}

TEST_CASE("test-nbd-handshake-unknown-option-unsup") {
  for (std::uint32_t option : std::initializer_list<std::uint32_t>{opt_extended_headers, opt_starttls, opt_list_meta_context,
                               opt_set_meta_context, opt_peek_export, 12u, 0u, 0xffffffffu}) {
    HandshakeState state;
    const auto out = answer(option, Bytes(7), state);
    REQUIRE(out.next == Next::more_options);
    const auto replies = split_replies(out.reply);
    REQUIRE(replies.size() == 1);
    CHECK(replies[0].option == option);
    CHECK(replies[0].type == rep_err_unsup);
  }
}

TEST_CASE("test-nbd-handshake-go-replies") {
  HandshakeState state;
  const auto out = answer(opt_go, info_data("disk", {info_block_size, info_name, info_description, 77, info_name}),
                          state);
  REQUIRE(out.next == Next::transmission);
  const auto replies = split_replies(out.reply);
  REQUIRE(replies.size() == 5);
  REQUIRE(replies[0].type == rep_info);
  CHECK(read_be(replies[0].data, 0, 2) == info_export);
  CHECK(replies[0].data.size() == 12);
  CHECK(read_be(replies[0].data, 2, 8) == disk.size);
  CHECK(read_be(replies[0].data, 10, 2) == disk.transmission_flags);
  CHECK(read_be(replies[1].data, 0, 2) == info_name);
  CHECK(replies[1].data.size() == 2 + 4);
  CHECK(read_be(replies[2].data, 0, 2) == info_description);
  REQUIRE(replies[3].data.size() == 14);
  CHECK(read_be(replies[3].data, 0, 2) == info_block_size);
  CHECK(read_be(replies[3].data, 2, 4) == 512);
  CHECK(read_be(replies[3].data, 6, 4) == 4096);
  CHECK(read_be(replies[3].data, 10, 4) == 32u << 20);
  CHECK(replies[4].type == rep_ack);

  HandshakeState info_state;
  const auto info = answer(opt_info, info_data("", {}), info_state);
  CHECK(info.next == Next::more_options);
  const auto info_replies = split_replies(info.reply);
  REQUIRE(info_replies.size() == 2);
  CHECK(info_replies[1].type == rep_ack);
}

TEST_CASE("test-nbd-handshake-go-invalid-and-unknown") {
  HandshakeState state;
  auto bad = info_data("disk", {1});
  bad.push_back(std::byte{1});
  auto replies = split_replies(answer(opt_go, bad, state).reply);
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].type == rep_err_invalid);

  replies = split_replies(answer(opt_go, info_data("other", {}), state).reply);
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].type == rep_err_unknown);

  // Too big to buffer: the session passes no data, the answer is ERR_INVALID.
  OptionHeader big{opt_info, max_info_request + 1};
  REQUIRE_FALSE(option_wants_data(big));
  replies = split_replies(answer_option(big, {}, disk, state).reply);
  REQUIRE(replies.size() == 1);
  CHECK(replies[0].type == rep_err_invalid);
}

TEST_CASE("test-nbd-handshake-export-name") {
  HandshakeState state;
  auto out = answer(opt_export_name, Bytes{}, state);
  REQUIRE(out.next == Next::transmission);
  REQUIRE(out.reply.size() == 8 + 2 + 124);
  CHECK(read_be(out.reply, 0, 8) == disk.size);

  HandshakeState no_zeroes{flag_fixed_newstyle | flag_no_zeroes};
  out = answer(opt_export_name, Bytes{std::byte{'d'}, std::byte{'i'}, std::byte{'s'}, std::byte{'k'}}, no_zeroes);
  REQUIRE(out.next == Next::transmission);
  CHECK(out.reply.size() == 10);

  out = answer(opt_export_name, Bytes{std::byte{'x'}}, state);
  CHECK(out.next == Next::close);
  CHECK(out.reply.empty());
  out = answer(opt_export_name, Bytes(max_string + 1, std::byte{'d'}), state);
  CHECK(out.next == Next::close);
}

TEST_CASE("test-nbd-handshake-list-abort-structured") {
  HandshakeState state;
  auto replies = split_replies(answer(opt_list, Bytes{}, state).reply);
  REQUIRE(replies.size() == 2);
  CHECK(replies[0].type == rep_server);
  CHECK(read_be(replies[0].data, 0, 4) == 4);
  CHECK(replies[1].type == rep_ack);
  replies = split_replies(answer(opt_list, Bytes(3), state).reply);
  CHECK(replies.at(0).type == rep_err_invalid);

  replies = split_replies(answer(opt_structured_reply, Bytes(1), state).reply);
  CHECK(replies.at(0).type == rep_err_invalid);
  CHECK_FALSE(state.structured_replies);
  replies = split_replies(answer(opt_structured_reply, Bytes{}, state).reply);
  CHECK(replies.at(0).type == rep_ack);
  CHECK(state.structured_replies);
  replies = split_replies(answer(opt_structured_reply, Bytes{}, state).reply);
  CHECK(replies.at(0).type == rep_err_invalid);

  const auto out = answer(opt_abort, Bytes(2), state);
  CHECK(out.next == Next::close);
  CHECK(split_replies(out.reply).at(0).type == rep_ack);
}

TEST_CASE("test-nbd-handshake-shutting-down-answers") {
  for (std::uint32_t option : {std::uint32_t{opt_go}, std::uint32_t{opt_info}, std::uint32_t{opt_list},
                               std::uint32_t{opt_structured_reply}, 1000u}) {
    const auto out = answer_option_shutting_down(OptionHeader{option, 0});
    CHECK(out.next == Next::more_options);  // the client is to ABORT
    const auto replies = split_replies(out.reply);
    REQUIRE(replies.size() == 1);
    CHECK(replies[0].option == option);
    CHECK(replies[0].type == rep_err_shutdown);
  }
  auto out = answer_option_shutting_down(OptionHeader{opt_abort, 0});
  CHECK(out.next == Next::close);
  CHECK(split_replies(out.reply).at(0).type == rep_ack);
  out = answer_option_shutting_down(OptionHeader{opt_export_name, 4});
  CHECK(out.next == Next::close);  // no way to say why
  CHECK(out.reply.empty());
}

TEST_CASE("test-nbd-handshake-too-many-options") {
  HandshakeState state;
  for (unsigned i = 0; i < max_options; ++i) REQUIRE(answer(99, Bytes{}, state).next == Next::more_options);
  const auto out = answer(99, Bytes{}, state);
  CHECK(out.next == Next::close);
  CHECK(out.reply.empty());
}

TEST_CASE("test-nbd-request-parse") {
  TransmissionRequest r;
  auto b = request_bytes(request_magic, 1, cmd_write, 0x0102030405060708, 4096, 512);
  REQUIRE(parse_request(std::span(b).first(27), r) == Parse::need_more);
  REQUIRE(parse_request(b, r) == Parse::ok);
  CHECK(r.flags == 1);
  CHECK(r.type == cmd_write);
  CHECK(r.cookie == 0x0102030405060708);
  CHECK(r.offset == 4096);
  CHECK(r.length == 512);
  CHECK(parse_request(request_bytes(ext_request_magic, 0, 0, 0, 0, 0), r) == Parse::bad_magic);
  CHECK(parse_request(request_bytes(0x25609514, 0, 0, 0, 0, 0), r) == Parse::bad_magic);
}

TEST_CASE("test-nbd-validate-commands-and-flags") {
  const ExportLimits rw{1 << 20, static_cast<std::uint16_t>(disk.transmission_flags | tflag_send_fast_zero)};
  auto v = [&](std::uint16_t type, std::uint16_t flags, std::uint64_t off, std::uint32_t len,
               const ExportLimits& l) { return validate_request(TransmissionRequest{flags, type, 7, off, len}, l); };
  CHECK(v(cmd_read, 0, 0, 4096, rw) == 0);
  CHECK(v(cmd_write, cmd_flag_fua, 1, 3, rw) == 0);
  CHECK(v(cmd_read, cmd_flag_fua, 0, 512, rw) == 0);  // FUA is accepted and ignored on reads
  CHECK(v(cmd_write_zeroes, cmd_flag_no_hole | cmd_flag_fua, 0, 512, rw) == 0);
  CHECK(v(cmd_flush, 0, 0, 0, rw) == 0);

  CHECK(v(cmd_cache, 0, 0, 512, rw) == err_inval);
  CHECK(v(cmd_block_status, 0, 0, 512, rw) == err_inval);
  CHECK(v(8, 0, 0, 0, rw) == err_inval);
  CHECK(v(0xffff, 0, 0, 0, rw) == err_inval);
  CHECK(v(cmd_trim, 0, 0, 512, rw) == err_inval);  // not advertised
  CHECK(v(cmd_flush, 0, 0, 512, rw) == err_inval);
  CHECK(v(cmd_flush, 0, 512, 0, rw) == err_inval);

  CHECK(v(cmd_read, 1 << 5, 0, 512, rw) == err_inval);            // unknown / extended-only
  CHECK(v(cmd_read, 1 << 15, 0, 512, rw) == err_inval);
  CHECK(v(cmd_read, cmd_flag_df, 0, 512, rw) == err_inval);       // DF not advertised
  CHECK(v(cmd_write, cmd_flag_no_hole, 0, 512, rw) == err_inval);  // other command's flag
  CHECK(v(cmd_read, cmd_flag_req_one, 0, 512, rw) == err_inval);
  CHECK(v(cmd_write, cmd_flag_fast_zero, 0, 512, rw) == err_inval);
  CHECK(v(cmd_write_zeroes, cmd_flag_fast_zero, 0, 512, rw) == err_notsup);

  const ExportLimits no_fua{1 << 20, tflag_has_flags | tflag_send_write_zeroes};
  CHECK(v(cmd_write, cmd_flag_fua, 0, 512, no_fua) == err_inval);
  CHECK(v(cmd_flush, 0, 0, 0, no_fua) == err_inval);
  CHECK(v(cmd_write_zeroes, cmd_flag_fast_zero, 0, 512, no_fua) == err_inval);
}

TEST_CASE("test-nbd-validate-range-and-size") {
  const std::uint64_t size = 128u << 20;
  const ExportLimits rw{size, disk.transmission_flags};
  auto v = [&](std::uint16_t type, std::uint64_t off, std::uint32_t len) {
    return validate_request(TransmissionRequest{0, type, 7, off, len}, rw);
  };
  CHECK(v(cmd_read, size - 512, 512) == 0);
  CHECK(v(cmd_read, size - 256, 512) == err_inval);
  CHECK(v(cmd_read, ~0ull, 1) == err_inval);  // offset + length overflows
  CHECK(v(cmd_read, size + 1, 0) == err_inval);
  CHECK(v(cmd_read, size, 0) == 0);  // zero length at the end: fine
  CHECK(v(cmd_write, size - 256, 512) == err_nospc);
  CHECK(v(cmd_write, ~0ull - 10, 512) == err_nospc);
  CHECK(v(cmd_write_zeroes, size - 512, 1024) == err_nospc);
  CHECK(v(cmd_write, 0, 0) == 0);

  // Above the advertised maximum, up to the accepted one: served (split).
  CHECK(v(cmd_read, 0, max_payload + 1) == 0);
  CHECK(v(cmd_write, 0, max_accepted_payload) == 0);
  CHECK(v(cmd_read, 0, max_accepted_payload + 1) == err_inval);
  CHECK(v(cmd_write, 0, max_accepted_payload + 1) == err_inval);
  CHECK(v(cmd_write_zeroes, 0, static_cast<std::uint32_t>(size)) == 0);  // no payload: no cap
}

TEST_CASE("test-nbd-validate-read-only") {
  const ExportLimits ro{1 << 20, tflag_has_flags | tflag_read_only | tflag_send_write_zeroes | tflag_send_flush};
  auto v = [&](std::uint16_t type, std::uint64_t off, std::uint32_t len) {
    return validate_request(TransmissionRequest{0, type, 7, off, len}, ro);
  };
  CHECK(v(cmd_write, 0, 512) == err_perm);
  CHECK(v(cmd_write_zeroes, 0, 512) == err_perm);
  CHECK(v(cmd_trim, 0, 512) == err_perm);
  CHECK(v(cmd_write, 2 << 20, 512) == err_perm);
  CHECK(v(cmd_read, 0, 512) == 0);
  CHECK(v(cmd_flush, 0, 0) == 0);
}

TEST_CASE("test-nbd-validate-writes-refused") {
  // A writable export whose writes are refused for now (a lost claim): the
  // flags still offer writing, every write-like command gets EPERM.
  const ExportLimits refused{1 << 20, static_cast<std::uint16_t>(disk.transmission_flags | tflag_send_trim), true};
  auto v = [&](std::uint16_t type, std::uint64_t off, std::uint32_t len) {
    return validate_request(TransmissionRequest{0, type, 7, off, len}, refused);
  };
  CHECK(v(cmd_write, 0, 512) == err_perm);
  CHECK(v(cmd_write, 0, 0) == err_perm);
  CHECK(v(cmd_write_zeroes, 0, 512) == err_perm);
  CHECK(v(cmd_trim, 0, 512) == err_perm);
  CHECK(v(cmd_read, 0, 512) == 0);
  CHECK(v(cmd_flush, 0, 0) == 0);
}

TEST_CASE("test-nbd-protocol-reply-encoders") {
  const auto simple = encode_simple_reply(0xabcdef, err_nospc);
  const Bytes s(simple.begin(), simple.end());
  CHECK(read_be(s, 0, 4) == simple_reply_magic);
  CHECK(read_be(s, 4, 4) == 28);
  CHECK(read_be(s, 8, 8) == 0xabcdef);

  const auto data = encode_offset_data_header(5, 4096, 1000);
  const Bytes d(data.begin(), data.end());
  CHECK(read_be(d, 0, 4) == structured_reply_magic);
  CHECK(read_be(d, 4, 2) == reply_flag_done);
  CHECK(read_be(d, 6, 2) == chunk_offset_data);
  CHECK(read_be(d, 8, 8) == 5);
  CHECK(read_be(d, 16, 4) == 1008);
  CHECK(read_be(d, 20, 8) == 4096);

  const auto err = encode_error_chunk(6, err_io);
  const Bytes e(err.begin(), err.end());
  CHECK(read_be(e, 6, 2) == chunk_error);
  CHECK(read_be(e, 16, 4) == 6);
  CHECK(read_be(e, 20, 4) == err_io);
  CHECK(read_be(e, 24, 2) == 0);

  const auto none = encode_none_chunk(9);
  const Bytes n(none.begin(), none.end());
  CHECK(read_be(n, 4, 2) == reply_flag_done);
  CHECK(read_be(n, 6, 2) == 0);
  CHECK(read_be(n, 16, 4) == 0);
}

TEST_CASE("test-nbd-protocol-errno-mapping") {
  CHECK(errno_to_nbd(0) == 0);
  CHECK(errno_to_nbd(EINVAL) == err_inval);
  CHECK(errno_to_nbd(EFBIG) == err_nospc);
  CHECK(errno_to_nbd(EROFS) == err_perm);
  CHECK(errno_to_nbd(ESHUTDOWN) == err_shutdown);
  CHECK(errno_to_nbd(ETIMEDOUT) == err_io);  // anything else is EIO, never a raw errno
  CHECK(errno_to_nbd(EEXIST) == err_io);
}
