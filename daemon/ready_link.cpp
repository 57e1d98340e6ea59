#include "daemon/ready_link.h"

#include <boost/asio/post.hpp>
#include <fmt/core.h>

#include "base/log.h"
#include "daemon/etherd_link.h"

namespace aoe::daemon {

void ReadyLink::make(std::string device, std::function<EtherdLink()> link, std::function<bool()> stopping,
                     std::function<void()> then) {
  device_ = std::move(device);
  readiness_.status(fmt::format("attached {} as {}; linking {}/{}", target_, device_, dir_.string(), target_));
  boost::asio::post(kernel_, [this, link = std::move(link), stopping = std::move(stopping),
                              then = std::move(then)]() mutable {
    const EtherdLink made = link();
    if (made.error)
      log::warning("{}: cannot create {}/{}: {}", target_, dir_.string(), target_, made.error.message());
    boost::asio::post(io_, [this, ours = made.ours, stopping = std::move(stopping), then = std::move(then)] {
      ours_ = ours;
      if (stopping()) return;
      served_.ready = true;
      readiness_.ready(device_);
      then();
    });
  });
}

void ReadyLink::detached() {
  if (device_.empty()) return;  // never served
  if (ours_)
    if (auto ec = remove_etherd_link_to(target_, device_, dir_))
      log::debug("{}: {}/{}: {}", target_, dir_.string(), target_, ec.message());
  log::notice("{}: detached from {}", target_, device_);
}

}  // namespace aoe::daemon
