#include "initiator/frame_filter.h"

#include <sys/socket.h>

#include <cerrno>

#include "initiator/tag.h"

namespace aoe::filter {
namespace {

// Frame offsets (docs/aoe-protocol.md §2).
constexpr std::uint32_t dst_offset = 0, type_offset = 12, flags_offset = 14, shelf_offset = 16,
                        slot_offset = 18, command_offset = 19, tag_offset = 20;
// Version 1 and R; E (0x04) and the reserved bits are not looked at.
constexpr std::uint32_t version_response_mask = 0xF8, version_response = 0x18;
// vblade (25) announces itself with version 0: R alone (docs/aoe-protocol.md §2.6).
constexpr std::uint32_t versionless_response = 0x08;
constexpr std::uint32_t accept_all = 0xFFFF'FFFF;  // keep the whole frame

// Classic BPF only jumps forward, by an offset counted from the next
// instruction.  Jumps here name labels; build() resolves them.
class Assembler {
 public:
  enum Label : int { next = -1, drop = 0, accept = 1, dst_ok = 2, broadcast = 3, versionless = 4, labels = 5 };

  void load(std::uint16_t size, std::uint32_t offset) { emit(BPF_LD | size | BPF_ABS, offset); }
  void jump_eq(std::uint32_t k, Label yes, Label no) { emit(BPF_JMP | BPF_JEQ | BPF_K, k, yes, no); }
  void jump_set(std::uint32_t k, Label yes, Label no) { emit(BPF_JMP | BPF_JSET | BPF_K, k, yes, no); }
  void and_mask(std::uint32_t k) { emit(BPF_ALU | BPF_AND | BPF_K, k); }
  void ret(std::uint32_t k) { emit(BPF_RET | BPF_K, k); }
  void here(Label label) { at_[label] = static_cast<int>(code_.size()); }

  std::vector<sock_filter> build() {
    for (const Pending& p : pending_) {
      auto offset = [&](Label l) {
        return static_cast<std::uint8_t>(l == next ? 0 : at_[l] - p.index - 1);
      };
      code_[static_cast<std::size_t>(p.index)].jt = offset(p.yes);
      code_[static_cast<std::size_t>(p.index)].jf = offset(p.no);
    }
    return std::move(code_);
  }

 private:
  struct Pending {
    int index;
    Label yes, no;
  };
  void emit(std::uint16_t code, std::uint32_t k, Label yes = next, Label no = next) {
    if (yes != next || no != next) pending_.push_back({static_cast<int>(code_.size()), yes, no});
    code_.push_back(sock_filter{code, 0, 0, k});
  }

  std::vector<sock_filter> code_;
  std::vector<Pending> pending_;
  int at_[labels] = {};
};

std::uint32_t be32(const wire::Mac& m) {
  return std::uint32_t{m[0]} << 24 | std::uint32_t{m[1]} << 16 | std::uint32_t{m[2]} << 8 | m[3];
}
std::uint32_t be16(const wire::Mac& m) { return std::uint32_t{m[4]} << 8 | m[5]; }

}  // namespace

// A load beyond the frame's end stops the program with 0 (drop), so frames
// too short for a field never pass.
std::vector<sock_filter> program(const wire::Mac& local, std::optional<Target> only, bool control_only) {
  using A = Assembler;
  A a;
  a.load(BPF_H, type_offset);
  a.jump_eq(wire::ethertype, A::next, A::drop);
  a.load(BPF_B, flags_offset);
  a.and_mask(version_response_mask);
  a.jump_eq(version_response, A::next, A::versionless);
  a.load(BPF_W, dst_offset);
  a.jump_eq(be32(local), A::next, A::broadcast);
  a.load(BPF_H, dst_offset + 4);
  a.jump_eq(be16(local), A::dst_ok, A::drop);
  a.here(A::broadcast);  // the accumulator still holds the first four bytes
  a.jump_eq(be32(wire::broadcast_mac), A::next, A::drop);
  a.load(BPF_H, dst_offset + 4);
  a.jump_eq(be16(wire::broadcast_mac), A::next, A::drop);
  a.here(A::dst_ok);
  if (only) {
    a.load(BPF_H, shelf_offset);
    a.jump_eq(only->shelf, A::next, A::drop);
    a.load(BPF_B, slot_offset);
    a.jump_eq(only->slot, A::next, A::drop);
  }
  a.load(BPF_W, tag_offset);
  if (control_only) {
    a.and_mask(tag::userland_bit | tag::control_bit);
    a.jump_eq(tag::userland_bit | tag::control_bit, A::accept, A::next);
    a.load(BPF_W, tag_offset);
  } else {
    a.jump_set(tag::userland_bit, A::accept, A::next);
  }
  a.jump_eq(0, A::next, A::drop);
  a.load(BPF_B, command_offset);
  a.jump_eq(static_cast<std::uint32_t>(wire::Command::query_config), A::accept, A::drop);
  // A versionless frame passes only as an announcement (tag 0, Query
  // Config) of the target, to any destination: at worst a hint that makes
  // the daemon look again.
  a.here(A::versionless);
  a.jump_eq(versionless_response, A::next, A::drop);
  a.load(BPF_W, tag_offset);
  a.jump_eq(0, A::next, A::drop);
  a.load(BPF_B, command_offset);
  a.jump_eq(static_cast<std::uint32_t>(wire::Command::query_config), A::next, A::drop);
  if (only) {
    a.load(BPF_H, shelf_offset);
    a.jump_eq(only->shelf, A::next, A::drop);
    a.load(BPF_B, slot_offset);
    a.jump_eq(only->slot, A::accept, A::drop);
  }
  a.here(A::accept);
  a.ret(accept_all);
  a.here(A::drop);
  a.ret(0);
  return a.build();
}

std::error_code attach(int fd, const std::vector<sock_filter>& code) {
  sock_fprog prog{static_cast<unsigned short>(code.size()), const_cast<sock_filter*>(code.data())};
  if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0)
    return {errno, std::system_category()};
  return {};
}

}  // namespace aoe::filter
