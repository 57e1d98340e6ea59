// ublk_abi.h: the few constants and structures of the kernel's ublk driver
// (ublk_drv) that ublk serving uses, as Linux 6.12 defines them in
// include/uapi/linux/ublk_cmd.h.  Our own copy because Debian 12's
// linux-libc-dev (6.1) lacks the ioctl-encoded command numbers and
// GET_FEATURES that 6.12 kernels expect; the layouts have not changed
// since the driver appeared in 6.0, and newer fields are appended only.
#pragma once

#include <sys/ioctl.h>

#include <cerrno>
#include <cstdint>

namespace aoe::ublk {

// Control commands, on /dev/ublk-control (an io_uring with 128-byte SQEs:
// the command is a 32-byte ControlCmd).
struct ControlCmd {
  std::uint32_t dev_id;
  std::uint16_t queue_id;  // 0xffff: not for a queue
  std::uint16_t len;       // of the buffer at addr
  std::uint64_t addr;
  std::uint64_t data[1];
  std::uint16_t dev_path_len;  // unprivileged devices only
  std::uint16_t pad;
  std::uint32_t reserved;
};
static_assert(sizeof(ControlCmd) == 32);

// Legacy numbers (kernels before UBLK_F_CMD_IOCTL_ENCODE take only these).
inline constexpr unsigned cmd_get_dev_info = 0x02;
inline constexpr unsigned cmd_add_dev = 0x04;
inline constexpr unsigned cmd_del_dev = 0x05;
inline constexpr unsigned cmd_start_dev = 0x06;
inline constexpr unsigned cmd_stop_dev = 0x07;
inline constexpr unsigned cmd_set_params = 0x08;
inline constexpr unsigned cmd_start_user_recovery = 0x10;
inline constexpr unsigned cmd_end_user_recovery = 0x11;
inline constexpr unsigned cmd_get_features = 0x13;  // 6.5 and later, ioctl-encoded only

// The ioctl encoding of a control command (UBLK_U_CMD_*): _IOR for those
// that only read the device, _IOWR for the others.
constexpr unsigned encode_control(unsigned nr) {
  const bool read_only = nr == cmd_get_dev_info || nr == cmd_get_features;
  return read_only ? _IOR('u', nr, ControlCmd) : _IOWR('u', nr, ControlCmd);
}

// I/O commands, on /dev/ublkcN, one outstanding per tag.
struct IoCmd {
  std::uint16_t q_id;
  std::uint16_t tag;
  std::int32_t result;  // COMMIT: bytes done or -errno
  std::uint64_t addr;   // the tag's buffer in our address space
};
static_assert(sizeof(IoCmd) == 16);

inline constexpr unsigned io_fetch_req = 0x20;
inline constexpr unsigned io_commit_and_fetch_req = 0x21;
constexpr unsigned encode_io(unsigned nr) { return _IOWR('u', nr, IoCmd); }

// A fetch's CQE result: a request waits in the tag's descriptor, or the
// device is going away (no re-fetch).
inline constexpr int io_res_ok = 0;
inline constexpr int io_res_abort = -ENODEV;

// Offset of the descriptor array in /dev/ublkcN (queue q at q * its size,
// rounded to pages).
inline constexpr long cmd_buf_offset = 0;
inline constexpr unsigned max_queue_depth = 4096;

// Device flags (ADD_DEV).
inline constexpr std::uint64_t f_user_recovery = 1ull << 3;
inline constexpr std::uint64_t f_user_recovery_reissue = 1ull << 4;
inline constexpr std::uint64_t f_cmd_ioctl_encode = 1ull << 6;

// Device states (GET_DEV_INFO).
inline constexpr std::uint16_t state_dead = 0;
inline constexpr std::uint16_t state_live = 1;
inline constexpr std::uint16_t state_quiesced = 2;

struct DevInfo {
  std::uint16_t nr_hw_queues;
  std::uint16_t queue_depth;
  std::uint16_t state;
  std::uint16_t pad0;
  std::uint32_t max_io_buf_bytes;
  std::uint32_t dev_id;
  std::int32_t ublksrv_pid;
  std::uint32_t pad1;
  std::uint64_t flags;
  std::uint64_t ublksrv_flags;  // the server's own: the kernel keeps and returns it
  std::uint32_t owner_uid;
  std::uint32_t owner_gid;
  std::uint64_t reserved1;
  std::uint64_t reserved2;
};
static_assert(sizeof(DevInfo) == 64);

// One request, in shared memory, indexed by tag.
struct IoDesc {
  std::uint32_t op_flags;  // op: bits 0-7, flags above
  std::uint32_t nr_sectors;
  std::uint64_t start_sector;
  std::uint64_t addr;
};
static_assert(sizeof(IoDesc) == 24);

inline constexpr std::uint8_t op_read = 0;
inline constexpr std::uint8_t op_write = 1;
inline constexpr std::uint8_t op_flush = 2;
inline constexpr std::uint8_t op_discard = 3;
inline constexpr std::uint8_t op_write_zeroes = 5;
inline constexpr std::uint32_t io_f_fua = 1u << 13;

struct ParamBasic {
  std::uint32_t attrs;
  std::uint8_t logical_bs_shift;
  std::uint8_t physical_bs_shift;
  std::uint8_t io_opt_shift;
  std::uint8_t io_min_shift;
  std::uint32_t max_sectors;
  std::uint32_t chunk_sectors;
  std::uint64_t dev_sectors;
  std::uint64_t virt_boundary_mask;
};
inline constexpr std::uint32_t attr_read_only = 1u << 0;
inline constexpr std::uint32_t attr_volatile_cache = 1u << 2;
inline constexpr std::uint32_t attr_fua = 1u << 3;

struct ParamDiscard {
  std::uint32_t discard_alignment;
  std::uint32_t discard_granularity;
  std::uint32_t max_discard_sectors;
  std::uint32_t max_write_zeroes_sectors;
  std::uint16_t max_discard_segments;
  std::uint16_t reserved0;
};

// Only the basic parameters: AoE has no discard, and write-zeroes the
// kernel emulates with writes when the device offers none.
struct Params {
  std::uint32_t len;
  std::uint32_t types;
  ParamBasic basic;
  ParamDiscard discard;
};
inline constexpr std::uint32_t param_type_basic = 1u << 0;

}  // namespace aoe::ublk
