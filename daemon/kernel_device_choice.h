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

// Whether the ublk driver of a kernel of this release (uname -r) can oops
// when its server exits under I/O: the race between a tag's cancel and its
// dispatch that Linux 6.15 fixed ("ublk: fix race between
// io_uring_cmd_complete_in_task and ublk_cancel_cmd"), which Debian's 6.12
// kernels lack (docs/architecture.md, "ublk serving").  By version alone:
// a distribution that took the fix into an older series is still named.
bool ublk_exit_race(std::string_view kernel_release);

// `asked` for `target` on a kernel of `kernel_release`.  A root storage
// daemon's auto takes nbd without asking the kernel (its initramfs and
// handover are proven there); any auto takes nbd, saying why, where
// ublk_exit_race() holds, since a restart could take the host down; an
// explicit ublk there is served with a warning.
KernelDeviceChoice choose_kernel_device(KernelDeviceKind asked, bool root_storage, std::string_view kernel_release,
                                        std::string_view target, const UblkProbe& probe);

}  // namespace aoe::daemon
