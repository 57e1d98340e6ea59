// kernel_device_choice.h: which kernel driver makes the block device of
// a kernel-mode aoe-attach (--kernel-device, aoe-attach(8); docs/
// architecture.md, "ublk serving"): ublk (ublk_serving.h) or nbd
// (kernel_serving.h).  A pure decision over what the kernel answered when
// asked for /dev/ublk-control; lifecycle.cpp asks the real kernel, the
// tests a fake.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <system_error>

namespace aoe::daemon {

// Which kernel driver makes the block device (--kernel-device).
enum class KernelDeviceKind {
  automatic,  // ublk where the kernel has it (or can load it), else nbd
  ublk,       // /dev/ublkbN (ublk_serving.h)
  nbd,        // /dev/nbdN (kernel_serving.h)
};

struct KernelDeviceChoice {
  KernelDeviceKind device = KernelDeviceKind::nbd;  // ublk or nbd; meaningless when exit_code is set
  int exit_code = 0;   // not 0: neither serves, fail with this code and `why`
  std::string why;     // what to log (empty: nothing), or the failure
  bool warn = false;   // `why` is a warning: ublk was there but refused us
};

// Opens /dev/ublk-control, loading ublk_drv where it is missing: {} or why
// not (ublk_errc::module_missing, an errno).  Called at most once.
using UblkProbe = std::function<std::error_code()>;

// `asked` for `target`; a root storage daemon's auto takes nbd without
// asking the kernel (its initramfs and handover are proven there).
KernelDeviceChoice choose_kernel_device(KernelDeviceKind asked, bool root_storage, std::string_view target,
                                        const UblkProbe& probe);

}  // namespace aoe::daemon
