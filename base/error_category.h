#pragma once
// The std::error_category behind each layer's error enum
// (initiator/errors.h, nbd-bridge/attach_types.h, daemon/etherd_link.h,
// daemon/ublk_device.h).  Each layer keeps its own `enum class`, in the
// style of Boost.Asio, and its own `describe()` saying what every value
// means; the category around it is written once, here.

#include <string>
#include <system_error>

namespace aoe::base {

// Describe returns nullptr for a value the enum does not name: a code read
// back from elsewhere, or a newer enum than the caller's.
template <class Errc, const char* (*Describe)(Errc) noexcept>
class EnumCategory : public std::error_category {
 public:
  explicit EnumCategory(const char* name) noexcept : name_(name) {}
  const char* name() const noexcept override { return name_; }
  std::string message(int value) const override {
    if (const char* text = Describe(static_cast<Errc>(value))) return text;
    return std::string("unknown ") + name_ + " error " + std::to_string(value);
  }

 private:
  const char* name_;
};

}  // namespace aoe::base
