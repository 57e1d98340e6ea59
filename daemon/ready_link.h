// ready_link.h: the last step toward serving a kernel device, the same for
// /dev/ublkbN (ublk_serving.h) and /dev/nbdN (kernel_serving.h): its
// /dev/etherd/eS.L link (etherd_link.h, udev_link.h), then the parent and
// systemd told that it serves (readiness.h), so that READY=1 and
// `aoe-attach e1.2 && mount /dev/etherd/e1.2` mean the name works; and,
// at detach, the link removed where it is ours.  Also what both kernel
// serving classes hold (KernelServingParts).
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>

#include "daemon/readiness.h"
#include "daemon/serving.h"
#include "daemon/udev_link.h"

namespace aoe::daemon {

// What the serving of /dev/ublkbN (ublk_serving.cpp) and of /dev/nbdN
// (kernel_serving.cpp) each run with; their classes derive from it and use
// these as their own members.
struct KernelServingParts {
  boost::asio::io_context& io_;
  boost::asio::signal_set& signals_;
  AttachedTarget& target_;
  const Options& o_;
  Readiness& readiness_;
  Served& served_;
  const std::string name_;  // the target's eS.L
};

class ReadyLink {
 public:
  ReadyLink(boost::asio::io_context& io, boost::asio::thread_pool& kernel, Readiness& readiness, Served& served,
            std::string target, std::filesystem::path dir)
      : io_(io), kernel_(kernel), readiness_(readiness), served_(served), target_(std::move(target)),
        dir_(std::move(dir)) {}

  // On the io thread, once `device` serves: runs `link` (which may wait for
  // udev) on `kernel`, logs its failure (the device serves all the same),
  // and back on `io`, unless `stopping()` says the serving gave up
  // meanwhile, marks `served` ready, reports `device` ready and calls
  // `then`.
  void make(std::string device, std::function<EtherdLink()> link, std::function<bool()> stopping,
            std::function<void()> then);

  // Detached (on any thread, once the serving is over): removes the link
  // if it is ours and still points to the device, and says so.
  void detached();

 private:
  boost::asio::io_context& io_;
  boost::asio::thread_pool& kernel_;
  Readiness& readiness_;
  Served& served_;
  const std::string target_;
  const std::filesystem::path dir_;
  std::string device_;
  bool ours_ = false;  // made by us, not by udev: removed by us
};

}  // namespace aoe::daemon
