#include "daemon/kernel_driver.h"

#include <utility>

#include "nbd-bridge/kernel_attach.h"

namespace aoe::daemon {

namespace {

class NbdDevice final : public KernelDevice {
 public:
  explicit NbdDevice(nbd::Attachment attachment) : attachment_(std::move(attachment)) {}
  std::uint32_t index() const override { return attachment_.index(); }
  std::string path() const override { return attachment_.device_path(); }
  bool tells_outside_disconnect() const override {
    return attachment_.mechanism() == nbd::AttachMechanism::netlink;
  }
  std::error_code resize(std::uint64_t size_bytes) override { return attachment_.resize(size_bytes); }
  std::error_code disconnect() override { return attachment_.disconnect(); }
  nbd::DeviceStatus status(std::error_code& ec) override { return nbd::status(attachment_.index(), ec); }

 private:
  nbd::Attachment attachment_;
};

class NbdDriver final : public KernelDriver {
 public:
  std::unique_ptr<KernelDevice> attach(const nbd::AttachRequest& request, std::error_code& ec) override {
    auto attachment = nbd::connect(request, ec);
    if (!attachment) return nullptr;
    return std::make_unique<NbdDevice>(std::move(*attachment));
  }
};

}  // namespace

KernelDriver& nbd_driver() {
  static NbdDriver driver;
  return driver;
}

}  // namespace aoe::daemon
