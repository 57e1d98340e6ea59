// recycling_allocator.h: an allocator that keeps a few freed blocks per
// thread and hands them out again, for a container that allocates and frees
// blocks of one size as it moves: the engine's FIFO of requests (a
// std::deque takes a new node every 64 requests and frees the old one).
// Stateless: every instance shares the thread's cache; a block freed on
// another thread than the one that allocated it is still fine.
#pragma once

#include <array>
#include <cstddef>
#include <new>

namespace aoe {

namespace detail {
struct BlockCache {
  struct Block {
    void* pointer = nullptr;
    std::size_t bytes = 0;
  };
  std::array<Block, 4> blocks{};  // a deque's node and map, with room to spare
  ~BlockCache() {
    for (Block& b : blocks) ::operator delete(b.pointer);
  }
  void* take(std::size_t bytes) noexcept {
    for (Block& b : blocks)
      if (b.pointer && b.bytes == bytes) {
        void* p = b.pointer;
        b.pointer = nullptr;
        return p;
      }
    return nullptr;
  }
  bool keep(void* pointer, std::size_t bytes) noexcept {
    for (Block& b : blocks)
      if (!b.pointer) {
        b = {pointer, bytes};
        return true;
      }
    return false;
  }
};
inline thread_local BlockCache block_cache;
}  // namespace detail

template <typename T>
struct RecyclingAllocator {
  using value_type = T;
  RecyclingAllocator() noexcept = default;
  template <typename U>
  RecyclingAllocator(const RecyclingAllocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
    if (void* p = detail::block_cache.take(n * sizeof(T))) return static_cast<T*>(p);
    return static_cast<T*>(::operator new(n * sizeof(T)));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    if (!detail::block_cache.keep(p, n * sizeof(T))) ::operator delete(p);
  }
  template <typename U>
  bool operator==(const RecyclingAllocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace aoe
