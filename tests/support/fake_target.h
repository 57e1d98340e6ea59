// fake_target.h: an in-memory AoE target on a FakeLink, answering like vblade
// (ATA READ/WRITE/IDENTIFY/FLUSH, Query Config read), with knobs for what a
// real target cannot do on demand: go silent, answer an AoE or ATA error for
// chosen frames, take time per request and drop what exceeds its Buffer Count.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "initiator/wire.h"
#include "tests/support/fake_link.h"

namespace aoe::test {

// A 512-byte IDENTIFY DEVICE block as an ATA disk would answer (docs/aoe-protocol.md §3.6).
inline std::array<std::byte, 512> make_identify(std::uint64_t sectors, bool lba48, bool flush, bool flush_ext,
                                                const std::string& model = "Fake AoE disk",
                                                const std::string& serial = "FAKE0001",
                                                const std::string& firmware = "1.0") {
  std::array<std::byte, 512> b{};
  auto word = [&](int w, std::uint16_t v) {
    b[std::size_t(2 * w)] = std::byte(v & 0xff);
    b[std::size_t(2 * w + 1)] = std::byte(v >> 8);
  };
  auto text = [&](int first_word, int words, const std::string& s) {
    std::string padded = s;
    padded.resize(std::size_t(2 * words), ' ');
    for (int i = 0; i < words; ++i)  // first character in the high byte
      word(first_word + i, std::uint16_t((std::uint8_t(padded[std::size_t(2 * i)]) << 8) |
                                         std::uint8_t(padded[std::size_t(2 * i + 1)])));
  };
  word(0, 0x0040);
  text(10, 10, serial);
  text(23, 4, firmware);
  text(27, 20, model);
  word(49, 0x0200);
  std::uint64_t lba28 = std::min<std::uint64_t>(sectors, 0x0FFFFFFF);
  word(60, std::uint16_t(lba28 & 0xffff));
  word(61, std::uint16_t(lba28 >> 16));
  std::uint16_t features = std::uint16_t(0x4000 | (lba48 ? 0x0400 : 0) | (flush ? 0x1000 : 0) | (flush_ext ? 0x2000 : 0));
  word(83, features);
  word(86, std::uint16_t(features & 0x3fff));
  if (lba48)
    for (int i = 0; i < 4; ++i) word(100 + i, std::uint16_t(sectors >> (16 * i)));
  return b;
}

struct FakeTargetOptions {
  std::uint16_t shelf = 1;
  std::uint8_t slot = 2;
  std::uint64_t sectors = 4096;
  bool lba48 = true;
  bool flush = true;
  bool flush_ext = true;
  std::uint16_t buffer_count = 16;
  std::uint8_t max_sectors = 2;                  // Query Config Sector Count
  std::chrono::microseconds service_time{0};     // per request; requests beyond Buffer Count are dropped
};

class FakeTarget {
 public:
  // With `share_with`, this port serves that target's disk (two vblade
  // processes on one file, one per target port).
  FakeTarget(boost::asio::io_context& io, FakeLink& link, FakeTargetOptions options = {},
             FakeTarget* share_with = nullptr)
      : io_(io), link_(link), options_(options), store_(share_with ? &share_with->disk : &disk) {
    if (!share_with) disk.resize(options.sectors * wire::sector_size);
    link_.set_receiver([this](std::span<const std::byte> f) { on_frame(f); });
  }

  std::vector<std::byte> disk;
  std::string config;  // this port's config string (Query Config read, set if empty, force set)
  bool silent = false;                                     // gone: answers nothing
  std::function<std::uint8_t(const wire::Frame&)> aoe_error;  // nonzero: answer with this AoE error
  std::function<std::optional<std::uint8_t>(const wire::Frame&)> ata_error;  // ATA error register value
  std::vector<std::uint8_t> ata_commands;                  // every ATA opcode received
  unsigned max_in_service = 0;                             // most requests held at once
  unsigned dropped_busy = 0;                               // requests over Buffer Count

 private:
  void on_frame(std::span<const std::byte> raw) {
    wire::Frame f;
    if (silent || wire::decode(raw, f) || f.header.response) return;
    const auto& h = f.header;
    if ((h.shelf != options_.shelf && h.shelf != wire::broadcast_shelf) ||
        (h.slot != options_.slot && h.slot != wire::broadcast_slot))
      return;
    if (h.command == wire::Command::query_config) return answer_config(f);
    if (h.command != wire::Command::ata) return;
    ata_commands.push_back(std::get<wire::AtaArg>(f.arg).cmd_status);
    if (in_service_ >= options_.buffer_count) {
      ++dropped_busy;
      return;
    }
    ++in_service_;
    max_in_service = std::max(max_in_service, in_service_);
    // The request's spans point into `raw`, which lives only during this call.
    auto copy = std::make_shared<std::vector<std::byte>>(raw.begin(), raw.end());
    auto serve = [this, copy] {
      --in_service_;
      wire::Frame g;
      if (!wire::decode(*copy, g)) answer_ata(g);
    };
    if (options_.service_time.count() == 0) return boost::asio::post(io_, serve);
    TimerService& timers = link_.wire().timers();  // the wire's time: simulated or real
    timers.post_at(timers.now() + options_.service_time, serve);
  }

  wire::Header reply_header(const wire::Header& request) const {
    wire::Header h = request;
    h.dst = request.src;
    h.src = link_.info().mac;
    h.response = true;
    h.shelf = options_.shelf;
    h.slot = options_.slot;
    return h;
  }

  void answer_config(const wire::Frame& f) {
    const auto& req = std::get<wire::ConfigArg>(f.arg);
    std::string s(reinterpret_cast<const char*>(req.config_string.data()), req.config_string.size());
    wire::Header h = reply_header(f.header);
    if (req.ccmd == wire::ConfigCommand::set_if_empty) {
      if (config.empty() || config == s) {
        config = s;
      } else {  // vblade: config string present
        h.error = true;
        h.error_code = 4;
      }
    } else if (req.ccmd == wire::ConfigCommand::force_set) {
      config = s;
    }
    wire::ConfigArg arg{.buffer_count = options_.buffer_count, .firmware_version = 0x4019,
                        .sector_count = options_.max_sectors, .aoe_version = 1,
                        .ccmd = req.ccmd, .config_string = std::as_bytes(std::span(config))};
    std::array<std::byte, 1100> out{};
    link_.send(std::span(out.data(), wire::encode(h, arg, out)), {});
  }

  void answer_ata(const wire::Frame& f) {
    wire::Header h = reply_header(f.header);
    wire::AtaArg req = std::get<wire::AtaArg>(f.arg);
    wire::AtaArg rsp = req;
    rsp.data = {};
    rsp.cmd_status = wire::ata::status_drdy;
    rsp.err_feature = 0;
    std::vector<std::byte> data;
    if (aoe_error) {
      if (std::uint8_t code = aoe_error(f)) {
        h.error = true;
        h.error_code = code;
        return send(h, rsp);
      }
    }
    std::optional<std::uint8_t> ata_err = ata_error ? ata_error(f) : std::nullopt;
    std::uint64_t lba = req.lba & ((req.aflags & wire::aflags::extended) ? 0xFFFF'FFFF'FFFFull : 0x0FFF'FFFFull);
    std::size_t bytes = std::size_t{req.sector_count} * wire::sector_size;
    bool in_range = lba + req.sector_count <= options_.sectors;
    switch (req.cmd_status) {
      case wire::ata::read_sectors:
      case wire::ata::read_sectors_ext:
        if (!in_range) ata_err = wire::ata::error_idnf;
        if (!ata_err) {
          auto from = store_->begin() + std::ptrdiff_t(lba * wire::sector_size);
          data.assign(from, from + std::ptrdiff_t(bytes));
          rsp.data = data;
        }
        break;
      case wire::ata::write_sectors:
      case wire::ata::write_sectors_ext:
        if (!in_range) ata_err = wire::ata::error_idnf;
        if (!ata_err) std::memcpy(store_->data() + lba * wire::sector_size, req.data.data(), bytes);
        break;
      case wire::ata::identify_device: {
        auto id = make_identify(options_.sectors, options_.lba48, options_.flush, options_.flush_ext);
        data.assign(id.begin(), id.end());
        rsp.data = data;
        break;
      }
      case wire::ata::flush_cache:
        if (!options_.flush) ata_err = wire::ata::error_abrt;
        break;
      case wire::ata::flush_cache_ext:
        if (!options_.flush_ext) ata_err = wire::ata::error_abrt;
        break;
      default:
        ata_err = wire::ata::error_abrt;
    }
    if (ata_err) {
      rsp.cmd_status = wire::ata::status_drdy | wire::ata::status_err;
      rsp.err_feature = *ata_err;
      rsp.data = {};
    }
    rsp.sector_count = 0;
    send(h, rsp);
  }

  void send(const wire::Header& h, const wire::AtaArg& arg) {
    std::vector<std::byte> out(wire::ata_header_size + arg.data.size() + wire::min_frame_size);
    link_.send(std::span(out.data(), wire::encode(h, arg, out)), {});
  }

  boost::asio::io_context& io_;
  FakeLink& link_;
  FakeTargetOptions options_;
  std::vector<std::byte>* store_;  // disk, or the disk of the target shared with
  unsigned in_service_ = 0;
};

}  // namespace aoe::test
