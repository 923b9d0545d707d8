#include "tensor_handle.h"

#include <mutex>
#include <unordered_set>

namespace ladet {
namespace {

const napi_type_tag kTensorTag = {0x6c616465745f7431ULL, 0x9d2f4a51c3e8b706ULL};

std::mutex live_mutex;
std::unordered_set<TensorHandle*> live;

int64_t ownBytes(const at::Tensor& t) {
  return t.defined() ? static_cast<int64_t>(t.numel()) * static_cast<int64_t>(t.element_size()) : 0;
}

}  // namespace

Napi::Value wrap(Napi::Env env, at::Tensor t) {
  if (!t.defined()) return env.Null();
  auto* h = new TensorHandle{std::move(t), true};
  {
    std::lock_guard<std::mutex> lock(live_mutex);
    live.insert(h);
  }
  // Tell V8 how much native memory hangs off this object so that the GC backstop fires under pressure.
  Napi::MemoryManagement::AdjustExternalMemory(env, ownBytes(h->tensor));
  auto ext = Napi::External<TensorHandle>::New(env, h, [](Napi::Env env, TensorHandle* h) {
    if (h->alive) Napi::MemoryManagement::AdjustExternalMemory(env, -ownBytes(h->tensor));
    release(h);
    delete h;
  });
  ext.TypeTag(&kTensorTag);
  return ext;
}

at::Tensor& unwrap(const Napi::Value& v, const char* what) {
  if (!v.IsExternal() || !v.As<Napi::Object>().CheckTypeTag(&kTensorTag)) {
    throw Napi::TypeError::New(v.Env(), std::string(what) + ": expected a tensor");
  }
  auto* h = v.As<Napi::External<TensorHandle>>().Data();
  if (!h->alive) throw Napi::Error::New(v.Env(), std::string(what) + ": tensor was disposed");
  return h->tensor;
}

void release(TensorHandle* h) {
  if (!h->alive) return;
  {
    std::lock_guard<std::mutex> lock(live_mutex);
    live.erase(h);
  }
  h->alive = false;
  h->tensor.reset();
}

void liveStats(int64_t* count, int64_t* bytes) {
  std::lock_guard<std::mutex> lock(live_mutex);
  std::unordered_set<const void*> storages;
  *count = static_cast<int64_t>(live.size());
  *bytes = 0;
  for (auto* h : live) {
    const auto& t = h->tensor;
    if (!t.defined() || !t.has_storage()) continue;
    const void* key = t.storage().unsafeGetStorageImpl();
    if (storages.insert(key).second) *bytes += static_cast<int64_t>(t.storage().nbytes());
  }
}

}  // namespace ladet
