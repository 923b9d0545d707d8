#pragma once
#include "tensor_handle.h"

namespace ladet {
Napi::Value OpHandle(const Napi::CallbackInfo& info);
Napi::Value OpSchema(const Napi::CallbackInfo& info);
Napi::Value Call(const Napi::CallbackInfo& info);
}  // namespace ladet
