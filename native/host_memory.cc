// Host memory in transparent huge pages (Linux; MADV_HUGEPAGE), for large buffers.
//
// On a virtual machine every first touch of a fresh 4 KiB page is an exit to the hypervisor; reading a 200 MB
// checkpoint into fresh memory measured ~500 ms of page faults for ~20 ms of copying, and the first use afterwards
// faulted again. In 2 MiB pages the same read took about half the time and the first use was free. PyTorch 2.1+
// makes the same choice for its CPU tensors (THP_MEM_ALLOC_ENABLE: 2 MiB alignment + MADV_HUGEPAGE for allocations
// of 2 MiB and more). Elsewhere (no madvise, THP "never") this is plain aligned memory.
#include <napi.h>

#include <cstdlib>
#include <cstring>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <c10/core/CPUAllocator.h>
#include <torch/version.h>

#include "host_memory.h"

namespace ladet {

namespace {
constexpr size_t kHugePage = size_t(2) << 20;
bool hugePagesOn = true;
}  // namespace

void setHugePages(bool on) { hugePagesOn = on; }

void* hugeAlloc(size_t bytes) {
  const size_t align = bytes >= kHugePage ? kHugePage : 64;
  // Round up to the alignment so the whole block is huge pages, and so aligned_alloc's size rule holds.
  const size_t size = ((bytes ? bytes : 1) + align - 1) / align * align;
  void* p = std::aligned_alloc(align, size);
  if (p == nullptr) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  // Advice only: a kernel with THP off ignores it, and so do we.
  if (hugePagesOn && align == kHugePage) madvise(p, size, MADV_HUGEPAGE);
#endif
  return p;
}

void hugeFree(void* p) { std::free(p); }

// hugeBuffer(bytes) -> ArrayBuffer of that many uninitialised bytes in huge pages, freed when the GC collects it.
Napi::Value HugeBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) throw Napi::TypeError::New(env, "hugeBuffer: a byte count is expected");
  const double d = info[0].As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d != static_cast<double>(static_cast<int64_t>(d)) || d > 9007199254740991.0) {
    throw Napi::RangeError::New(env, "hugeBuffer: the byte count must be a non-negative integer");
  }
  const size_t bytes = static_cast<size_t>(d);
  void* p;
  try {
    p = hugeAlloc(bytes);
  } catch (const std::bad_alloc&) {
    throw Napi::RangeError::New(env, "hugeBuffer: cannot allocate " + std::to_string(bytes) + " bytes");
  }
  Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(bytes));
  return Napi::ArrayBuffer::New(env, p, bytes, [bytes](Napi::Env e, void* data) {
    hugeFree(data);
    Napi::MemoryManagement::AdjustExternalMemory(e, -static_cast<int64_t>(bytes));
  });
}

namespace {

// libtorch's default CPU allocator, with hugeAlloc's placement. Small blocks keep 64-byte alignment as c10's does.
// c10::Allocator changed in libtorch 2.3: allocate() lost its const and copy_data() became pure virtual.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
#define LADET_ALLOCATE_CONST
#else
#define LADET_ALLOCATE_CONST const
#endif

class HugePageCpuAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t bytes) LADET_ALLOCATE_CONST override {
    void* p = bytes ? hugeAlloc(bytes) : nullptr;
    return {p, p, &hugeFree, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return &hugeFree; }
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
  void copy_data(void* dest, const void* src, std::size_t count) const override { default_copy_data(dest, src, count); }
#endif
};

HugePageCpuAllocator hugePageCpuAllocator;

}  // namespace

void installHugePageCpuAllocator() { c10::SetCPUAllocator(&hugePageCpuAllocator, /*priority=*/1); }

}  // namespace ladet
