// device_usage.h: whether /dev/nbdN is in use by something a disconnect
// would hurt: a mount, a stacked device, an exclusive opener.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace aoe::nbd {

// Why /dev/nbdN must not be disconnected now ("mounted on /mnt", "held by
// dm-0", "opened exclusively"), or nothing.  A disconnect under a mounted
// file system fails its outstanding writes.  A plain open() by a program
// leaves no trace here; only exclusive openers, mounts and holders do.
std::optional<std::string> in_use(std::uint32_t index);
// The same for any whole block device, by its name in /dev ("ublkb0").
std::optional<std::string> block_device_in_use(const std::string& name);

}  // namespace aoe::nbd
