#include "daemon/kernel_driver.h"

#include <utility>

#include "nbd-bridge/device_usage.h"
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
  bool adoptable() const override { return attachment_.mechanism() == nbd::AttachMechanism::netlink; }
  std::optional<std::string> in_use() override { return nbd::in_use(attachment_.index()); }
  std::error_code set_timeouts(std::uint64_t request_seconds, std::uint64_t dead_conn_seconds) override {
    return attachment_.set_timeouts(request_seconds, dead_conn_seconds);
  }

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
  std::optional<std::uint32_t> find_backend(const std::string& backend_id) override {
    return nbd::find_backend(backend_id);
  }
  std::unique_ptr<KernelDevice> adopt(std::uint32_t index, const nbd::AttachRequest& request,
                                      std::error_code& ec) override {
    auto attachment = nbd::adopt(index, request, ec);
    if (!attachment) return nullptr;
    return std::make_unique<NbdDevice>(std::move(*attachment));
  }
  std::error_code disconnect(std::uint32_t index) override { return nbd::disconnect(index); }
};

}  // namespace

KernelDriver& nbd_driver() {
  static NbdDriver driver;
  return driver;
}

}  // namespace aoe::daemon
