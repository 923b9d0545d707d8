// A JS-visible handle to one at::Tensor. Handles are napi Externals tagged with a type tag, so a wrong object
// passed where a tensor is expected is a JS TypeError, not a crash.
#pragma once

#include <napi.h>
#include <ATen/ATen.h>

namespace ladet {

struct TensorHandle {
  at::Tensor tensor;
  bool alive = true;
};

// Wraps a tensor (which may be undefined: returned as null).
Napi::Value wrap(Napi::Env env, at::Tensor t);
// The tensor behind a handle; throws a JS TypeError naming `what` if `v` is not a live tensor handle.
at::Tensor& unwrap(const Napi::Value& v, const char* what);
// Releases the tensor now (idempotent); the handle stays a valid JS object that reports `disposed`.
void release(TensorHandle* h);

// Live handle count and the bytes of the distinct storages they reference.
void liveStats(int64_t* count, int64_t* bytes);

}  // namespace ladet

// Every entry point runs its body through this, so a C++ exception never leaves as an abort.
#define LADET_TRY try {
#define LADET_CATCH(env)                                                        \
  }                                                                             \
  catch (const Napi::Error&) {                                                  \
    throw;                                                                      \
  }                                                                             \
  catch (const c10::Error& e) {                                                 \
    throw Napi::Error::New(env, e.what_without_backtrace());                    \
  }                                                                             \
  catch (const std::exception& e) {                                             \
    throw Napi::Error::New(env, e.what());                                      \
  }                                                                             \
  catch (...) {                                                                 \
    throw Napi::Error::New(env, "ladet native: unknown C++ exception");         \
  }
