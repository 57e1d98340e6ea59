// permanent_mac.h: the burned-in MAC address of a network interface
// (ethtool ETHTOOL_GPERMADDR), which a claim's identity carries so that two
// hosts booted from one image, both "(none)" with one machine-id in an
// initramfs, never claim as one (daemon/claim.h).
#pragma once

#include <optional>
#include <string>

#include "initiator/wire.h"

namespace aoe::daemon {

// The permanent address of `interface` in this network namespace, or
// nothing where the driver has none (veth, bridges, many virtual NICs
// report zeroes) or the interface is gone.
std::optional<wire::Mac> permanent_mac(const std::string& interface);

}  // namespace aoe::daemon
