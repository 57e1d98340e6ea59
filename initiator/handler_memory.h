// handler_memory.h: memory for the handler of one asynchronous operation at
// a time (Asio's "custom allocation" pattern), so that an operation started
// again and again (the engine's tick timer, an NBD session's reply writer)
// allocates nothing.  Asio's own recycling keeps a single block per thread
// (Boost 1.74), which several operations in flight at once keep missing.
//
// with_memory(memory, handler) gives the handler an associated allocator
// drawing on `memory`; a second handler while the first still holds it
// falls back to the heap, so sharing is never wrong, only slower.  The
// memory must outlive the operation's handler: the handler keeps its owner
// alive (a shared_ptr it captures), or the shared_ptr overload owns it.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <utility>

namespace aoe {

class HandlerMemory {
 public:
  HandlerMemory() = default;
  HandlerMemory(const HandlerMemory&) = delete;
  HandlerMemory& operator=(const HandlerMemory&) = delete;

  void* allocate(std::size_t size) {
    if (!in_use_ && size <= sizeof storage_) {
      in_use_ = true;
      return storage_;
    }
    return ::operator new(size);
  }
  void deallocate(void* pointer) noexcept {
    if (pointer == storage_)
      in_use_ = false;
    else
      ::operator delete(pointer);
  }

 private:
  // Asio's largest operation with one of our handlers is a few hundred bytes.
  alignas(std::max_align_t) std::byte storage_[1024];
  bool in_use_ = false;
};

template <typename T>
class HandlerAllocator {
 public:
  using value_type = T;
  explicit HandlerAllocator(HandlerMemory& memory) noexcept : memory_(&memory) {}
  template <typename U>
  HandlerAllocator(const HandlerAllocator<U>& other) noexcept : memory_(other.memory_) {}

  T* allocate(std::size_t n) { return static_cast<T*>(memory_->allocate(sizeof(T) * n)); }
  void deallocate(T* pointer, std::size_t) noexcept { memory_->deallocate(pointer); }

  template <typename U>
  bool operator==(const HandlerAllocator<U>& other) const noexcept {
    return memory_ == other.memory_;
  }

 private:
  template <typename>
  friend class HandlerAllocator;
  HandlerMemory* memory_;
};

template <typename Handler, typename Owner = void>
class HandlerWithMemory {
 public:
  using allocator_type = HandlerAllocator<Handler>;

  HandlerWithMemory(HandlerMemory& memory, Handler handler, std::shared_ptr<Owner> owner = {})
      : memory_(&memory), owner_(std::move(owner)), handler_(std::move(handler)) {}

  allocator_type get_allocator() const noexcept { return allocator_type(*memory_); }

  template <typename... Args>
  void operator()(Args&&... args) {
    handler_(std::forward<Args>(args)...);
  }

 private:
  HandlerMemory* memory_;
  std::shared_ptr<Owner> owner_;  // keeps *memory_ alive, if given
  Handler handler_;
};

// `memory` stays alive through what `handler` captures.
template <typename Handler>
HandlerWithMemory<std::decay_t<Handler>> with_memory(HandlerMemory& memory, Handler&& handler) {
  return {memory, std::forward<Handler>(handler)};
}

// The handler keeps `memory` alive itself.
template <typename Handler>
HandlerWithMemory<std::decay_t<Handler>, HandlerMemory> with_memory(std::shared_ptr<HandlerMemory> memory,
                                                                    Handler&& handler) {
  HandlerMemory& m = *memory;
  return {m, std::forward<Handler>(handler), std::move(memory)};
}

}  // namespace aoe
