// run_task.h: what the tests of Control exchanges share: a fake NIC's
// LinkInfo, and one coroutine run to completion on an io_context.
#pragma once

#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "discovery/control.h"
#include "initiator/link.h"

namespace aoe::test {

inline LinkInfo link_info(std::string name, int ifindex, std::uint8_t mac_last, unsigned mtu = 1500) {
  return LinkInfo{std::move(name), ifindex, {2, 0, 0, 0, 0, mac_last}, mtu};
}

template <typename T>
T run_task(boost::asio::io_context& io, discovery::Task<T> task) {
  std::optional<T> out;
  boost::asio::co_spawn(io, std::move(task), [&](std::exception_ptr e, T value) {
    if (e) std::rethrow_exception(e);
    out = std::move(value);
  });
  io.restart();
  while (!out && io.run_one() > 0) {
  }
  REQUIRE(out);
  return std::move(*out);
}

}  // namespace aoe::test
