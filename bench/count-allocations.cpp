// count-allocations.cpp: an LD_PRELOAD library for scripts/bench that counts
// a process's heap allocations (malloc, calloc, realloc, aligned_alloc,
// posix_memalign, memalign, valloc; operator new and Asio's handler memory
// come down to these), so that the bench can print allocations per request
// of a running aoe-attach.
//
// The count lives in the file named by AOE_COUNT_ALLOCATIONS (8 bytes, a
// native-endian counter, mapped shared): the bench reads it before and
// after a run (od -An -tu8), with no signal and no help from the process.
// Without the variable, or if the file cannot be mapped, nothing is
// counted.  Every allocation goes on to glibc's own (__libc_*).
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>

extern "C" {
void* __libc_malloc(std::size_t size) noexcept;
void* __libc_calloc(std::size_t count, std::size_t size) noexcept;
void* __libc_realloc(void* p, std::size_t size) noexcept;
void* __libc_memalign(std::size_t alignment, std::size_t size) noexcept;
}

namespace {

std::uint64_t* counter;

__attribute__((constructor)) void map_counter() {
  const char* path = std::getenv("AOE_COUNT_ALLOCATIONS");
  if (!path) return;
  int fd = ::open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  if (::ftruncate(fd, sizeof *counter) == 0) {
    void* p = ::mmap(nullptr, sizeof *counter, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p != MAP_FAILED) counter = static_cast<std::uint64_t*>(p);
  }
  ::close(fd);
}

inline void count() noexcept {
  if (counter) __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

}  // namespace

extern "C" {

void* malloc(std::size_t size) noexcept {
  count();
  return __libc_malloc(size);
}

void* calloc(std::size_t n, std::size_t size) noexcept {
  count();
  return __libc_calloc(n, size);
}

void* realloc(void* p, std::size_t size) noexcept {
  count();
  return __libc_realloc(p, size);
}

void* memalign(std::size_t alignment, std::size_t size) noexcept {
  count();
  return __libc_memalign(alignment, size);
}

void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept { return memalign(alignment, size); }

void* valloc(std::size_t size) noexcept { return memalign(static_cast<std::size_t>(::sysconf(_SC_PAGESIZE)), size); }

int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
  if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
  void* p = memalign(alignment, size);
  if (!p && size) return ENOMEM;
  *out = p;
  return 0;
}

}  // extern "C"
