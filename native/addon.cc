// Module entry: the non-operator parts of the binding (tensor data in and out, autograd, global state).
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/core/GradMode.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <cstdlib>
#include <cstring>

#include "dispatch.h"
#include "distributed.h"
#include "host_memory.h"
#include "tensor_handle.h"

namespace ladet {
namespace {

at::ScalarType scalarTypeOf(Napi::Env env, const Napi::Value& v) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, "dtype code expected");
  return static_cast<at::ScalarType>(v.As<Napi::Number>().Int32Value());
}

std::vector<int64_t> shapeOf(Napi::Env env, const Napi::Value& v) {
  if (!v.IsArray()) throw Napi::TypeError::New(env, "shape must be an array of integers");
  auto arr = v.As<Napi::Array>();
  std::vector<int64_t> shape(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    double d = arr.Get(i).As<Napi::Number>().DoubleValue();
    if (d < 0 || d != static_cast<double>(static_cast<int64_t>(d))) {
      throw Napi::RangeError::New(env, "shape entries must be non-negative integers");
    }
    shape[i] = static_cast<int64_t>(d);
  }
  return shape;
}

// fromBuffer(typedArray, dtype, shape) -> tensor (a copy of the bytes)
Napi::Value FromBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LADET_TRY
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "fromBuffer: a typed array is expected");
  auto ta = info[0].As<Napi::TypedArray>();
  auto dtype = scalarTypeOf(env, info[1]);
  auto shape = shapeOf(env, info[2]);
  auto t = at::empty(shape, at::TensorOptions().dtype(dtype));
  const size_t want = t.numel() * t.element_size();
  if (ta.ByteLength() != want) {
    throw Napi::RangeError::New(env, "fromBuffer: " + std::to_string(ta.ByteLength()) + " bytes given for a tensor of " +
                                         std::to_string(want) + " bytes");
  }
  if (want) std::memcpy(t.data_ptr(), static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset(), want);
  return wrap(env, t);
  LADET_CATCH(env)
}

// toBuffer(t) -> ArrayBuffer with the tensor's elements, row-major, on the CPU
Napi::Value ToBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LADET_TRY
  at::Tensor t = unwrap(info[0], "toBuffer").detach().to(at::kCPU).contiguous();
  const size_t n = t.numel() * t.element_size();
  auto buf = Napi::ArrayBuffer::New(env, n);
  if (n) std::memcpy(buf.Data(), t.data_ptr(), n);
  return buf;
  LADET_CATCH(env)
}

// meta(t) -> [dtype, device, requiresGrad, ...shape]
Napi::Value Meta(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LADET_TRY
  const at::Tensor& t = unwrap(info[0], "meta");
  auto arr = Napi::Array::New(env, 3 + t.dim());
  arr.Set(0u, Napi::Number::New(env, static_cast<int>(t.scalar_type())));
  arr.Set(1u, Napi::String::New(env, t.device().str()));
  arr.Set(2u, Napi::Boolean::New(env, t.requires_grad()));
  for (int64_t i = 0; i < t.dim(); ++i) arr.Set(static_cast<uint32_t>(3 + i), Napi::Number::New(env, t.size(i)));
  return arr;
  LADET_CATCH(env)
}

Napi::Value Item(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LADET_TRY
  const at::Tensor& t = unwrap(info[0], "item");
  if (t.scalar_type() == at::kBool) return Napi::Boolean::New(env, t.item<bool>());
  return Napi::Number::New(env, t.item<double>());
  LADET_CATCH(env)
}

Napi::Value Dispose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsExternal()) throw Napi::TypeError::New(env, "dispose: expected a tensor");
  auto* h = info[0].As<Napi::External<TensorHandle>>().Data();
  if (h->alive) {
    Napi::MemoryManagement::AdjustExternalMemory(env, -static_cast<int64_t>(h->tensor.numel() * h->tensor.element_size()));
    release(h);
  }
  return env.Undefined();
}

Napi::Value IsAlive(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), info[0].IsExternal() && info[0].As<Napi::External<TensorHandle>>().Data()->alive);
}

Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LADET_TRY
  unwrap(info[0], "setRequiresGrad").set_requires_grad(info[1].As<Napi::Boolean>().Value());
  return env.Undefined();
  LADET_CATCH(env)
}

Napi::Value Grad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LADET_TRY
  return wrap(env, unwrap(info[0], "grad").grad());
  LADET_CATCH(env)
}

// setGrad(t, g | null): null drops the gradient (zero_grad with set_to_none)
Napi::Value SetGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LADET_TRY
  at::Tensor& t = unwrap(info[0], "setGrad");
  if (info[1].IsNull() || info[1].IsUndefined()) {
    t.mutable_grad().reset();
  } else {
    t.mutable_grad() = unwrap(info[1], "setGrad");
  }
  return env.Undefined();
  LADET_CATCH(env)
}

Napi::Value IsLeaf(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LADET_TRY
  return Napi::Boolean::New(env, unwrap(info[0], "isLeaf").is_leaf());
  LADET_CATCH(env)
}

// backward(t, gradient | null, retainGraph)
Napi::Value Backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LADET_TRY
  const at::Tensor& t = unwrap(info[0], "backward");
  at::Tensor g;
  if (!info[1].IsNull() && !info[1].IsUndefined()) g = unwrap(info[1], "backward gradient");
  bool retain = info.Length() > 2 && info[2].IsBoolean() && info[2].As<Napi::Boolean>().Value();
  t.backward(g, retain, false);
  return env.Undefined();
  LADET_CATCH(env)
}

Napi::Value GradEnabled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), c10::GradMode::is_enabled());
}

Napi::Value SetGradEnabled(const Napi::CallbackInfo& info) {
  c10::GradMode::set_enabled(info[0].As<Napi::Boolean>().Value());
  return info.Env().Undefined();
}

Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LADET_TRY
  at::manual_seed(static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value()));
  return env.Undefined();
  LADET_CATCH(env)
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LADET_TRY
  int n = info[0].As<Napi::Number>().Int32Value();
  if (n < 1) throw Napi::RangeError::New(env, "setNumThreads: at least 1 thread");
  at::set_num_threads(n);
  return env.Undefined();
  LADET_CATCH(env)
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::get_num_threads());
}

Napi::Value Memory(const Napi::CallbackInfo& info) {
  int64_t count = 0, bytes = 0;
  liveStats(&count, &bytes);
  auto arr = Napi::Array::New(info.Env(), 2);
  arr.Set(0u, Napi::Number::New(info.Env(), static_cast<double>(count)));
  arr.Set(1u, Napi::Number::New(info.Env(), static_cast<double>(bytes)));
  return arr;
}

Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LADET_TRY
  return Napi::Number::New(env, static_cast<double>(torch::cuda::device_count()));
  LADET_CATCH(env)
}

// Waits for every kernel queued on the current CUDA device (timing; the host otherwise runs ahead of the GPU).
Napi::Value CudaSynchronize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LADET_TRY
  if (torch::cuda::device_count() == 0) throw Napi::Error::New(env, "cudaSynchronize: no CUDA device");
  torch::cuda::synchronize();
  return env.Undefined();
  LADET_CATCH(env)
}

// ---- autocast (mixed precision) ----------------------------------------------------------------------------
// libtorch's own autocast: enabling it puts the AutocastCPU (AutocastCUDA) key in the thread-local dispatch key set,
// so every op called through dispatch.cc's boxed call passes the autocast kernels (conv2d / linear / matmul cast to
// the lower precision, the fp32 list to float32) before autograd, exactly as in PyTorch. Like grad mode, the state
// is thread-local. src/torch/autocast.ts opens and closes scopes with these calls, as torch.autocast does.

c10::DeviceType autocastDevice(Napi::Env env, const Napi::Value& v) {
  const std::string d = v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
  if (d == "cpu") return c10::DeviceType::CPU;
  if (d == "cuda") {
#ifdef LADET_WITH_CUDA
    return c10::DeviceType::CUDA;
#else
    throw Napi::Error::New(env, "autocast on 'cuda': this addon was built against a libtorch without CUDA");
#endif
  }
  throw Napi::TypeError::New(env, "autocast: device must be 'cpu' or 'cuda'");
}

// libtorch 2.4 replaced the per-device autocast calls (is_cpu_enabled, set_autocast_gpu_dtype, ...) by ones that
// take the device type; the old ones are deprecated there and gone in later releases.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool autocastEnabled(c10::DeviceType d) { return at::autocast::is_autocast_enabled(d); }
at::ScalarType autocastDtype(c10::DeviceType d) { return at::autocast::get_autocast_dtype(d); }
void setAutocastState(c10::DeviceType d, bool enabled, at::ScalarType dtype) {
  at::autocast::set_autocast_dtype(d, dtype);
  at::autocast::set_autocast_enabled(d, enabled);
}
#else
bool autocastEnabled(c10::DeviceType d) {
  return d == c10::DeviceType::CPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled();
}
at::ScalarType autocastDtype(c10::DeviceType d) {
  return d == c10::DeviceType::CPU ? at::autocast::get_autocast_cpu_dtype() : at::autocast::get_autocast_gpu_dtype();
}
void setAutocastState(c10::DeviceType d, bool enabled, at::ScalarType dtype) {
  if (d == c10::DeviceType::CPU) {
    at::autocast::set_autocast_cpu_dtype(dtype);
    at::autocast::set_cpu_enabled(enabled);
  } else {
    at::autocast::set_autocast_gpu_dtype(dtype);
    at::autocast::set_enabled(enabled);
  }
}
#endif

// autocastState(device) -> [enabled, dtype code]
Napi::Value AutocastState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LADET_TRY
  const auto device = autocastDevice(env, info[0]);
  auto arr = Napi::Array::New(env, 2);
  arr.Set(0u, Napi::Boolean::New(env, autocastEnabled(device)));
  arr.Set(1u, Napi::Number::New(env, static_cast<int>(autocastDtype(device))));
  return arr;
  LADET_CATCH(env)
}

// setAutocast(device, enabled, dtype code)
Napi::Value SetAutocast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LADET_TRY
  const auto device = autocastDevice(env, info[0]);
  if (!info[1].IsBoolean()) throw Napi::TypeError::New(env, "setAutocast: enabled must be a boolean");
  const bool enabled = info[1].As<Napi::Boolean>().Value();
  const auto dtype = scalarTypeOf(env, info[2]);
  if (dtype != at::kBFloat16 && dtype != at::kHalf) {
    throw Napi::TypeError::New(env, "autocast: the lower precision must be bfloat16 or float16");
  }
  if (device == c10::DeviceType::CPU) {
    // libtorch 1.13's CPU autocast lists (and its CPU kernels) know bfloat16 only; torch.autocast refuses the rest.
    if (enabled && dtype != at::kBFloat16) {
      throw Napi::Error::New(env, std::string("autocast on 'cpu' supports bfloat16 only (libtorch ") + TORCH_VERSION + ")");
    }
  }
  setAutocastState(device, enabled, dtype);
  return env.Undefined();
  LADET_CATCH(env)
}

// autocastNesting(delta: 1 | -1) -> the nesting depth after the change (torch.autocast's __enter__ / __exit__)
Napi::Value AutocastNesting(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LADET_TRY
  const int delta = info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 0;
  if (delta != 1 && delta != -1) throw Napi::RangeError::New(env, "autocastNesting: delta must be 1 or -1");
  return Napi::Number::New(env, delta > 0 ? at::autocast::increment_nesting() : at::autocast::decrement_nesting());
  LADET_CATCH(env)
}

// Drops autocast's cache of lower-precision copies of fp32 leaf tensors that require grad (the weights): it must be
// cleared when the outermost scope ends, or stale copies would outlive the optimizer's update (and hold memory).
Napi::Value AutocastClearCache(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LADET_TRY
  at::autocast::clear_cache();
  return env.Undefined();
  LADET_CATCH(env)
}

// Whether the current CUDA device computes in bfloat16 natively (compute capability 8.0 and later, as
// torch.cuda.is_bf16_supported); false without CUDA or a GPU.
Napi::Value CudaBf16Supported(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LADET_TRY
  return Napi::Boolean::New(env, torch::cuda::device_count() > 0 &&
                                     at::detail::getCUDAHooks().supportsBFloat16ConvolutionWithCuDNNv8());
  LADET_CATCH(env)
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // LADET_HUGE_PAGES=0: no huge-page advice, and libtorch's own CPU allocator (to measure the difference, or where
  // transparent huge pages misbehave).
  const char* huge = std::getenv("LADET_HUGE_PAGES");
  const bool hugePages = huge == nullptr || std::strcmp(huge, "0") != 0;
  setHugePages(hugePages);
  if (hugePages) installHugePageCpuAllocator();
  exports.Set("hugeBuffer", Napi::Function::New(env, HugeBuffer));
  exports.Set("opHandle", Napi::Function::New(env, OpHandle));
  exports.Set("opSchema", Napi::Function::New(env, OpSchema));
  exports.Set("call", Napi::Function::New(env, Call));
  exports.Set("fromBuffer", Napi::Function::New(env, FromBuffer));
  exports.Set("toBuffer", Napi::Function::New(env, ToBuffer));
  exports.Set("meta", Napi::Function::New(env, Meta));
  exports.Set("item", Napi::Function::New(env, Item));
  exports.Set("dispose", Napi::Function::New(env, Dispose));
  exports.Set("isAlive", Napi::Function::New(env, IsAlive));
  exports.Set("setRequiresGrad", Napi::Function::New(env, SetRequiresGrad));
  exports.Set("grad", Napi::Function::New(env, Grad));
  exports.Set("setGrad", Napi::Function::New(env, SetGrad));
  exports.Set("isLeaf", Napi::Function::New(env, IsLeaf));
  exports.Set("backward", Napi::Function::New(env, Backward));
  exports.Set("gradEnabled", Napi::Function::New(env, GradEnabled));
  exports.Set("setGradEnabled", Napi::Function::New(env, SetGradEnabled));
  exports.Set("manualSeed", Napi::Function::New(env, ManualSeed));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads));
  exports.Set("memory", Napi::Function::New(env, Memory));
  exports.Set("cudaDeviceCount", Napi::Function::New(env, CudaDeviceCount));
  exports.Set("cudaSynchronize", Napi::Function::New(env, CudaSynchronize));
  exports.Set("autocastState", Napi::Function::New(env, AutocastState));
  exports.Set("setAutocast", Napi::Function::New(env, SetAutocast));
  exports.Set("autocastNesting", Napi::Function::New(env, AutocastNesting));
  exports.Set("autocastClearCache", Napi::Function::New(env, AutocastClearCache));
  exports.Set("cudaBf16Supported", Napi::Function::New(env, CudaBf16Supported));
  registerDistributed(env, exports);
  exports.Set("libtorchVersion", Napi::String::New(env, TORCH_VERSION));
  return exports;
}

}  // namespace
}  // namespace ladet

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return ladet::Init(env, exports); }

NODE_API_MODULE(ladet_native, InitModule)
