// stub_link.h: a Link that only has a name, index and MTU (for the pure steps).
#pragma once

#include <string>

#include "initiator/link.h"

namespace aoe::test {

class StubLink final : public Link {
 public:
  StubLink(std::string name, int ifindex, unsigned mtu = 1500) {
    info_.name = std::move(name);
    info_.ifindex = ifindex;
    info_.mtu = mtu;
  }
  const LinkInfo& info() const noexcept override { return info_; }
  bool send(std::span<const std::byte>, std::span<const std::byte>) noexcept override { return true; }
  void set_receiver(Receiver) override {}

 private:
  LinkInfo info_;
};

}  // namespace aoe::test
