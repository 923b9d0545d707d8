// Host memory in transparent huge pages for large buffers (see host_memory.cc).
#pragma once

#include <napi.h>

#include <cstddef>

namespace ladet {

// At least `bytes` bytes; blocks of 2 MiB and more are 2 MiB aligned and advised as huge pages. Throws bad_alloc.
void* hugeAlloc(size_t bytes);
void hugeFree(void* p);
// Off: the same aligned blocks without the huge-page advice (LADET_HUGE_PAGES=0).
void setHugePages(bool on);

// hugeBuffer(bytes) -> ArrayBuffer in huge pages (uninitialised), freed by the GC.
Napi::Value HugeBuffer(const Napi::CallbackInfo& info);

// Makes libtorch's CPU tensors of 2 MiB and more use huge pages too (c10::SetCPUAllocator).
void installHugePageCpuAllocator();

}  // namespace ladet
