// Generic boxed call into the ATen dispatcher: JS names an operator by schema ("aten::conv2d", overload ""),
// gets back an integer id, and calls it with positional arguments. Arguments are converted by the operator's
// schema, defaults fill in what JS leaves undefined, and autograd happens inside the dispatcher as in PyTorch.
// This keeps the binding mechanical: adding an op to ladet is a line of TypeScript, not C++.
#include "dispatch.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>

#include <cmath>
#include <mutex>
#include <sstream>
#include <vector>

namespace ladet {
namespace {

struct OpEntry {
  c10::OperatorHandle handle;
  std::string name;
};

std::mutex ops_mutex;
std::vector<OpEntry> ops;  // id -> operator; entries are never removed

[[noreturn]] void argError(Napi::Env env, const OpEntry& op, const c10::Argument& arg, const std::string& what) {
  throw Napi::TypeError::New(env, op.name + ": argument '" + arg.name() + "' " + what);
}

int64_t toInt(Napi::Env env, const OpEntry& op, const c10::Argument& arg, const Napi::Value& v) {
  if (v.IsBigInt()) {
    bool lossless = false;
    int64_t x = v.As<Napi::BigInt>().Int64Value(&lossless);
    if (!lossless) argError(env, op, arg, "is out of the int64 range");
    return x;
  }
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? 1 : 0;
  if (!v.IsNumber()) argError(env, op, arg, "expects an integer");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int64_t>(d))) argError(env, op, arg, "expects an integer, got " + std::to_string(d));
  return static_cast<int64_t>(d);
}

c10::IValue toIValue(Napi::Env env, const OpEntry& op, const c10::Argument& arg, const c10::TypePtr& type,
                     const Napi::Value& v) {
  using K = c10::TypeKind;
  switch (type->kind()) {
    case K::OptionalType:
      if (v.IsNull() || v.IsUndefined()) return c10::IValue();
      return toIValue(env, op, arg, type->castRaw<c10::OptionalType>()->getElementType(), v);
    case K::TensorType:
      return unwrap(v, (op.name + " '" + arg.name() + "'").c_str());
    case K::IntType:
    case K::SymIntType:
    case K::ScalarTypeType:
    case K::LayoutType:
    case K::MemoryFormatType:
      return toInt(env, op, arg, v);
    case K::FloatType:
      if (!v.IsNumber()) argError(env, op, arg, "expects a number");
      return v.As<Napi::Number>().DoubleValue();
    case K::BoolType:
      if (!v.IsBoolean()) argError(env, op, arg, "expects a boolean");
      return v.As<Napi::Boolean>().Value();
    case K::NumberType: {  // at::Scalar: JS integers become integer scalars, like Python ints
      if (v.IsBoolean()) return c10::Scalar(v.As<Napi::Boolean>().Value());
      if (v.IsBigInt()) return c10::Scalar(toInt(env, op, arg, v));
      if (!v.IsNumber()) argError(env, op, arg, "expects a number");
      double d = v.As<Napi::Number>().DoubleValue();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9007199254740992.0) {
        return c10::Scalar(static_cast<int64_t>(d));
      }
      return c10::Scalar(d);
    }
    case K::StringType:
      if (!v.IsString()) argError(env, op, arg, "expects a string");
      return v.As<Napi::String>().Utf8Value();
    case K::DeviceObjType:
      if (!v.IsString()) argError(env, op, arg, "expects a device string such as 'cpu' or 'cuda:0'");
      return c10::Device(v.As<Napi::String>().Utf8Value());
    case K::ListType: {
      auto elem = type->castRaw<c10::ListType>()->getElementType();
      const auto k = elem->kind();
      // int[2] stride = 1 style arguments accept a single number, as in Python.
      if (!v.IsArray()) {
        if ((k == K::IntType || k == K::SymIntType) && arg.N() && (v.IsNumber() || v.IsBigInt())) {
          c10::List<int64_t> list;
          int64_t x = toInt(env, op, arg, v);
          for (int64_t i = 0; i < *arg.N(); ++i) list.push_back(x);
          return list;
        }
        argError(env, op, arg, "expects an array");
      }
      auto arr = v.As<Napi::Array>();
      const uint32_t n = arr.Length();
      if (k == K::IntType || k == K::SymIntType) {
        c10::List<int64_t> list;
        list.reserve(n);
        for (uint32_t i = 0; i < n; ++i) list.push_back(toInt(env, op, arg, arr.Get(i)));
        return list;
      }
      if (k == K::FloatType) {
        c10::List<double> list;
        for (uint32_t i = 0; i < n; ++i) {
          Napi::Value e = arr.Get(i);
          if (!e.IsNumber()) argError(env, op, arg, "expects an array of numbers");
          list.push_back(e.As<Napi::Number>().DoubleValue());
        }
        return list;
      }
      if (k == K::BoolType) {
        c10::List<bool> list;
        for (uint32_t i = 0; i < n; ++i) {
          Napi::Value e = arr.Get(i);
          if (!e.IsBoolean()) argError(env, op, arg, "expects an array of booleans");
          list.push_back(e.As<Napi::Boolean>().Value());
        }
        return list;
      }
      if (k == K::TensorType) {
        c10::List<at::Tensor> list;
        list.reserve(n);
        for (uint32_t i = 0; i < n; ++i) list.push_back(unwrap(arr.Get(i), (op.name + " '" + arg.name() + "'").c_str()));
        return list;
      }
      if (k == K::OptionalType) {
        c10::List<c10::optional<at::Tensor>> list;
        for (uint32_t i = 0; i < n; ++i) {
          Napi::Value e = arr.Get(i);
          if (e.IsNull() || e.IsUndefined()) {
            list.push_back(c10::nullopt);
          } else {
            list.push_back(unwrap(e, (op.name + " '" + arg.name() + "'").c_str()));
          }
        }
        return list;
      }
      argError(env, op, arg, "has a list type ladet does not bind: " + type->str());
    }
    default:
      argError(env, op, arg, "has a type ladet does not bind: " + type->str());
  }
}

Napi::Value toJs(Napi::Env env, const c10::IValue& v) {
  if (v.isTensor()) return wrap(env, v.toTensor());
  if (v.isNone()) return env.Null();
  if (v.isInt()) return Napi::Number::New(env, static_cast<double>(v.toInt()));
  if (v.isDouble()) return Napi::Number::New(env, v.toDouble());
  if (v.isBool()) return Napi::Boolean::New(env, v.toBool());
  if (v.isString()) return Napi::String::New(env, v.toStringRef());
  if (v.isTuple()) {
    const auto& elems = v.toTupleRef().elements();
    auto arr = Napi::Array::New(env, elems.size());
    for (size_t i = 0; i < elems.size(); ++i) arr.Set(static_cast<uint32_t>(i), toJs(env, elems[i]));
    return arr;
  }
  if (v.isList()) {
    auto list = v.toListRef();
    auto arr = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); ++i) arr.Set(static_cast<uint32_t>(i), toJs(env, list[i]));
    return arr;
  }
  if (v.isScalar()) {
    auto s = v.toScalar();
    if (s.isBoolean()) return Napi::Boolean::New(env, s.toBool());
    return Napi::Number::New(env, s.toDouble());
  }
  throw Napi::Error::New(env, "ladet native: cannot convert a returned " + v.tagKind() + " to JS");
}

}  // namespace

// opHandle(name: string, overload: string) -> id
Napi::Value OpHandle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LADET_TRY
  if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString()) {
    throw Napi::TypeError::New(env, "opHandle(name, overload): strings expected");
  }
  std::string name = info[0].As<Napi::String>().Utf8Value();
  std::string overload = info[1].As<Napi::String>().Utf8Value();
  auto handle = c10::Dispatcher::singleton().findSchemaOrThrow(name.c_str(), overload.c_str());
  std::lock_guard<std::mutex> lock(ops_mutex);
  ops.push_back(OpEntry{handle, overload.empty() ? name : name + "." + overload});
  return Napi::Number::New(env, static_cast<double>(ops.size() - 1));
  LADET_CATCH(env)
}

// opSchema(id) -> the schema string, for error messages and docs
Napi::Value OpSchema(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LADET_TRY
  size_t id = static_cast<size_t>(info[0].As<Napi::Number>().Int64Value());
  std::lock_guard<std::mutex> lock(ops_mutex);
  if (id >= ops.size()) throw Napi::RangeError::New(env, "opSchema: unknown op id");
  std::ostringstream ss;
  ss << ops[id].handle.schema();
  return Napi::String::New(env, ss.str());
  LADET_CATCH(env)
}

// call(id, args: unknown[]) -> converted return value (single value, or array for several returns)
Napi::Value Call(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LADET_TRY
  size_t id = static_cast<size_t>(info[0].As<Napi::Number>().Int64Value());
  OpEntry entry = [&] {
    // Copy under the lock: another thread registering an op may grow the vector.
    std::lock_guard<std::mutex> lock(ops_mutex);
    if (id >= ops.size()) throw Napi::RangeError::New(env, "call: unknown op id");
    return ops[id];
  }();
  auto args = info[1].As<Napi::Array>();
  const auto& schema = entry.handle.schema();
  const auto& formals = schema.arguments();
  if (args.Length() > formals.size()) {
    throw Napi::TypeError::New(env, entry.name + ": " + std::to_string(args.Length()) + " arguments given, schema takes " +
                                        std::to_string(formals.size()));
  }
  torch::jit::Stack stack;
  stack.reserve(formals.size());
  for (size_t i = 0; i < formals.size(); ++i) {
    const auto& arg = formals[i];
    Napi::Value v = i < args.Length() ? args.Get(static_cast<uint32_t>(i)) : env.Undefined();
    if (v.IsUndefined()) {
      if (arg.default_value()) {
        stack.push_back(*arg.default_value());
        continue;
      }
      if (arg.type()->kind() != c10::TypeKind::OptionalType) {
        throw Napi::TypeError::New(env, entry.name + ": missing argument '" + arg.name() + "'");
      }
    }
    stack.push_back(toIValue(env, entry, arg, arg.type(), v));
  }
  entry.handle.callBoxed(&stack);
  if (stack.size() == 1) return toJs(env, stack[0]);
  if (stack.empty()) return env.Undefined();
  auto arr = Napi::Array::New(env, stack.size());
  for (size_t i = 0; i < stack.size(); ++i) arr.Set(static_cast<uint32_t>(i), toJs(env, stack[i]));
  return arr;
  LADET_CATCH(env)
}

}  // namespace ladet
