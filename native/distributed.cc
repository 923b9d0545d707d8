// c10d process groups for data-parallel training (issue 23): a thin binding over libtorch's own ProcessGroupGloo,
// rendezvous through a TCPStore (MASTER_ADDR:MASTER_PORT, rank 0 serves it) or a FileStore (one machine). ladet does
// not grow its own collective layer; src/torch/distributed.ts validates arguments and everything clever sits above.
//
// Every collective blocks until it completes on this rank. Gloo reports a peer that exited or hangs past the timeout
// as a C++ exception, which Work::wait rethrows; here it becomes a JS Error naming the collective and the rank, so a
// dead peer never aborts the process. Compiled always: where libtorch's c10d or gloo's headers are missing
// (find-libtorch.mjs leaves LADET_WITH_C10D undefined), every entry point but c10dAvailable throws a JS Error.
#include "distributed.h"

#include "tensor_handle.h"

#ifdef LADET_WITH_C10D
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/comm.hpp>

#include <chrono>
#include <cmath>
#include <exception>
#include <string>
#include <vector>
#endif

namespace ladet {
namespace {

Napi::Value C10dAvailable(const Napi::CallbackInfo& info) {
#ifdef LADET_WITH_C10D
  return Napi::Boolean::New(info.Env(), true);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

#ifdef LADET_WITH_C10D

using std::chrono::milliseconds;

const napi_type_tag kProcessGroupTag = {0x6c616465745f7067ULL, 0x3b7e19d4a2c65f80ULL};

struct PgHandle {
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  c10::intrusive_ptr<c10d::Store> store;
  int rank = 0;
  int world = 1;
  bool alive = true;
};

void releasePg(PgHandle* h) {
  if (!h->alive) return;
  h->alive = false;
  h->pg.reset();  // joins Gloo's worker threads; every collective here has completed (or failed) already
  h->store.reset();
}

PgHandle* unwrapPg(const Napi::Value& v, const char* what) {
  if (!v.IsExternal() || !v.As<Napi::Object>().CheckTypeTag(&kProcessGroupTag)) {
    throw Napi::TypeError::New(v.Env(), std::string(what) + ": expected a process group");
  }
  auto* h = v.As<Napi::External<PgHandle>>().Data();
  if (!h->alive) throw Napi::Error::New(v.Env(), std::string(what) + ": the process group was destroyed");
  return h;
}

// The message of the exception being handled (called inside a catch block).
std::string currentMessage() {
  try {
    throw;
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown C++ exception";
  }
}

int intField(Napi::Env env, const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string("processGroupNew: '") + key + "' must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 2147483647.0) {
    throw Napi::TypeError::New(env, std::string("processGroupNew: '") + key + "' must be an integer");
  }
  return static_cast<int>(d);
}

std::string stringField(Napi::Env env, const Napi::Object& o, const char* key, bool required) {
  Napi::Value v = o.Get(key);
  if (v.IsString()) return v.As<Napi::String>().Utf8Value();
  if (!required && (v.IsUndefined() || v.IsNull())) return std::string();
  throw Napi::TypeError::New(env, std::string("processGroupNew: '") + key + "' must be a string");
}

// The local address the kernel would use to reach host:port (a UDP connect sends nothing): the interface Gloo must
// listen on so that the other ranks, which reach the master the same way, can reach this one. Empty if unknown.
std::string localAddressTowards(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || res == nullptr) return "";
  std::string out;
  for (addrinfo* ai = res; ai != nullptr && out.empty(); ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype, 0);
    if (fd < 0) continue;
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 && getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
      char buf[INET6_ADDRSTRLEN] = {};
      const void* a = ss.ss_family == AF_INET
                          ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&ss)->sin_addr)
                          : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr);
      if (inet_ntop(ss.ss_family, a, buf, sizeof buf) != nullptr) out = buf;
    }
    close(fd);
  }
  freeaddrinfo(res);
  return out;
}

// Every rank counts itself in and waits until the whole world has (TCPStore 1.13's own wait for workers gives up
// silently at its timeout, so the rank that is missing would only show later as an obscure rendezvous error).
void joinAll(Napi::Env env, c10d::Store& store, int rank, int world, int timeoutMs, const std::string& where) {
  int64_t joined = 0;
  try {
    joined = store.add("ladet/joined", 1);
    if (joined >= world) store.set("ladet/all", std::vector<uint8_t>{1});
    store.wait({"ladet/all"}, milliseconds(timeoutMs));
  } catch (...) {
    std::string why = currentMessage();
    try {
      joined = store.add("ladet/joined", 0);
    } catch (...) {
      // the store itself failed: the count stays the last one seen
    }
    throw Napi::Error::New(env, "c10d: only " + std::to_string(joined) + " of " + std::to_string(world) +
                                    " ranks joined the store at " + where + " within " + std::to_string(timeoutMs) +
                                    " ms (rank " + std::to_string(rank) + "): " + why);
  }
}

// processGroupNew({ rank, worldSize, timeoutMs, initTimeoutMs?, store: 'tcp' | 'file', host?, port?, path?, ifname? })
//   timeoutMs bounds every collective (and Gloo's connections); initTimeoutMs (default timeoutMs) bounds the store:
//   connecting to it and waiting for all ranks. ifname names the network interfaces Gloo listens on (comma-separated,
//   as GLOO_SOCKET_IFNAME); by default the one that reaches the TCP store's host, or 127.0.0.1 for a file store.
Napi::Value ProcessGroupNew(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LADET_TRY
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "processGroupNew: an options object is expected");
  auto o = info[0].As<Napi::Object>();
  const int rank = intField(env, o, "rank");
  const int world = intField(env, o, "worldSize");
  const int timeoutMs = intField(env, o, "timeoutMs");
  const Napi::Value initV = o.Get("initTimeoutMs");
  const int initTimeoutMs = initV.IsUndefined() || initV.IsNull() ? timeoutMs : intField(env, o, "initTimeoutMs");
  if (world < 1) throw Napi::RangeError::New(env, "processGroupNew: worldSize must be at least 1");
  if (rank < 0 || rank >= world) {
    throw Napi::RangeError::New(env, "processGroupNew: rank " + std::to_string(rank) + " is outside [0, " +
                                         std::to_string(world) + ")");
  }
  if (timeoutMs <= 0 || initTimeoutMs <= 0) throw Napi::RangeError::New(env, "processGroupNew: timeouts must be > 0");
  const std::string kind = stringField(env, o, "store", true);
  const std::string ifname = stringField(env, o, "ifname", false);
  const std::string r = std::to_string(rank);

  c10::intrusive_ptr<c10d::Store> store;
  std::string where;
  std::string deviceHost;
  if (kind == "tcp") {
    const std::string host = stringField(env, o, "host", true);
    const int port = intField(env, o, "port");
    if (port < 1 || port > 65535) throw Napi::RangeError::New(env, "processGroupNew: port must be in [1, 65535]");
    where = host + ":" + std::to_string(port);
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(port);
    so.isServer = rank == 0;
    so.numWorkers = static_cast<std::size_t>(world);
    so.waitWorkers = false;  // joinAll below waits, and says who is missing
    so.timeout = milliseconds(initTimeoutMs);
    try {
      store = c10::make_intrusive<c10d::TCPStore>(host, so);
    } catch (...) {
      throw Napi::Error::New(env, rank == 0 ? "c10d: rank 0 cannot serve the store on port " + std::to_string(port) +
                                                  " (is the port in use?) or reach it at " + where + ": " +
                                                  currentMessage()
                                            : "c10d: cannot reach the store at " + where + " within " +
                                                  std::to_string(initTimeoutMs) + " ms (rank " + r +
                                                  "): " + currentMessage());
    }
    deviceHost = localAddressTowards(host, port);
  } else if (kind == "file") {
    const std::string path = stringField(env, o, "path", true);
    where = path;
    try {
      store = c10::make_intrusive<c10d::FileStore>(path, world);
    } catch (...) {
      throw Napi::Error::New(env, "c10d: rank " + r + " cannot open the file store " + path + ": " + currentMessage());
    }
    deviceHost = "127.0.0.1";
  } else {
    throw Napi::TypeError::New(env, "processGroupNew: store must be 'tcp' or 'file'");
  }
  store->setTimeout(milliseconds(initTimeoutMs));
  joinAll(env, *store, rank, world, initTimeoutMs, where);

  auto opts = c10d::ProcessGroupGloo::Options::create(milliseconds(timeoutMs));
  try {
    if (!ifname.empty()) {
      // a comma-separated list, as GLOO_SOCKET_IFNAME: Gloo spreads the traffic over the interfaces
      size_t start = 0;
      while (start <= ifname.size()) {
        size_t end = ifname.find(',', start);
        if (end == std::string::npos) end = ifname.size();
        if (end > start) {
          opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname.substr(start, end - start)));
        }
        start = end + 1;
      }
    } else if (!deviceHost.empty()) {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(deviceHost));
    } else {
      opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
  } catch (...) {
    const std::string dev = !ifname.empty() ? "interface " + ifname : deviceHost.empty() ? "this host" : deviceHost;
    throw Napi::Error::New(env, "c10d: rank " + r + " cannot open a Gloo device on " + dev + ": " + currentMessage());
  }
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  try {
    pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, opts);
  } catch (...) {
    throw Napi::Error::New(env, "c10d: rank " + r + " of " + std::to_string(world) +
                                    " could not connect to the other ranks (store " + where + ", timeout " +
                                    std::to_string(timeoutMs) + " ms): " + currentMessage());
  }

  auto* h = new PgHandle{std::move(pg), std::move(store), rank, world, true};
  auto ext = Napi::External<PgHandle>::New(env, h, [](Napi::Env, PgHandle* h) {
    releasePg(h);
    delete h;
  });
  ext.TypeTag(&kProcessGroupTag);
  return ext;
  LADET_CATCH(env)
}

// The tensors of a JS array, checked for what Gloo takes (CPU, dense, contiguous), detached: Gloo's worker threads
// copy results back with copy_, which must not meet a leaf that requires grad (the data is shared all the same).
std::vector<at::Tensor> cpuTensors(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsArray()) throw Napi::TypeError::New(env, std::string(what) + ": an array of tensors is expected");
  auto arr = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    const at::Tensor& t = unwrap(arr.Get(i), what);
    const std::string which = std::string(what) + ": tensor " + std::to_string(i);
    if (!t.device().is_cpu()) {
      throw Napi::TypeError::New(env, which + " is on " + t.device().str() + "; Gloo process groups take CPU tensors");
    }
    if (t.layout() != at::kStrided) throw Napi::TypeError::New(env, which + " is not dense");
    if (!t.is_contiguous()) throw Napi::TypeError::New(env, which + " is not contiguous");
    out.push_back(t.detach());
  }
  return out;
}

// Runs one collective and waits; its failure (a peer gone, a timeout) becomes a JS Error naming the rank.
template <typename F>
void collective(Napi::Env env, const PgHandle* h, const char* what, F&& f) {
  try {
    f();
  } catch (...) {
    throw Napi::Error::New(env, std::string("c10d ") + what + " failed on rank " + std::to_string(h->rank) + " of " +
                                    std::to_string(h->world) + ": " + currentMessage());
  }
}

// pgAllReduce(pg, tensors): in-place sum over the ranks; the tensors share one dtype.
Napi::Value PgAllReduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LADET_TRY
  PgHandle* h = unwrapPg(info[0], "pgAllReduce");
  auto tensors = cpuTensors(env, info[1], "pgAllReduce");
  if (tensors.empty()) return env.Undefined();
  for (size_t i = 1; i < tensors.size(); ++i) {
    if (tensors[i].scalar_type() != tensors[0].scalar_type()) {
      throw Napi::TypeError::New(env, std::string("pgAllReduce: tensor ") + std::to_string(i) + " is " +
                                          c10::toString(tensors[i].scalar_type()) + ", tensor 0 " +
                                          c10::toString(tensors[0].scalar_type()) + ": one dtype per call");
    }
  }
  collective(env, h, "allReduce", [&] {
    if (tensors.size() == 1) {
      h->pg->allreduce(tensors)->wait();
    } else {
      h->pg->allreduce_coalesced(tensors)->wait();
    }
  });
  return env.Undefined();
  LADET_CATCH(env)
}

// pgBroadcast(pg, tensors, root): in place, from rank root; several tensors (of any dtypes) go in coalesced buckets.
Napi::Value PgBroadcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LADET_TRY
  PgHandle* h = unwrapPg(info[0], "pgBroadcast");
  auto tensors = cpuTensors(env, info[1], "pgBroadcast");
  if (!info[2].IsNumber()) throw Napi::TypeError::New(env, "pgBroadcast: root must be a rank");
  const int root = info[2].As<Napi::Number>().Int32Value();
  if (root < 0 || root >= h->world) {
    throw Napi::RangeError::New(env, "pgBroadcast: root " + std::to_string(root) + " is outside [0, " +
                                         std::to_string(h->world) + ")");
  }
  if (tensors.empty()) return env.Undefined();
  collective(env, h, "broadcast", [&] {
    if (tensors.size() == 1) {
      c10d::BroadcastOptions o;
      o.rootRank = root;
      h->pg->broadcast(tensors, o)->wait();
    } else {
      c10d::broadcast_coalesced(h->pg, tensors, size_t{64} << 20, root);
    }
  });
  return env.Undefined();
  LADET_CATCH(env)
}

// A key of ladet's own in the store (apart from c10d's and the join count's).
std::string userKey(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsString()) throw Napi::TypeError::New(env, std::string(what) + ": key must be a string");
  return "ladet/user/" + v.As<Napi::String>().Utf8Value();
}

// Runs a store operation; a failure becomes a JS Error naming the rank, the operation and the key.
template <typename F>
void storeOp(Napi::Env env, PgHandle* h, const std::string& doing, F&& op) {
  try {
    op();
  } catch (...) {
    throw Napi::Error::New(env, "c10d: rank " + std::to_string(h->rank) + " " + doing + " in the store: " +
                                    currentMessage());
  }
}

// pgStoreSet(pg, key) / pgStoreWait(pg, key, timeoutMs): a flag in the rendezvous store, for waits longer than a
// collective's timeout (Gloo's barrier ignores BarrierOptions.timeout in 1.13): rank 0 sets, the others wait.
Napi::Value PgStoreSet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LADET_TRY
  PgHandle* h = unwrapPg(info[0], "pgStoreSet");
  const std::string key = userKey(env, info[1], "pgStoreSet");
  storeOp(env, h, "cannot set " + key, [&] { h->store->set(key, std::vector<uint8_t>{1}); });
  return env.Undefined();
  LADET_CATCH(env)
}

Napi::Value PgStoreWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LADET_TRY
  PgHandle* h = unwrapPg(info[0], "pgStoreWait");
  const std::string key = userKey(env, info[1], "pgStoreWait");
  if (!info[2].IsNumber()) throw Napi::TypeError::New(env, "pgStoreWait: timeoutMs must be a number");
  const int64_t ms = info[2].As<Napi::Number>().Int64Value();
  storeOp(env, h, "waited " + std::to_string(ms) + " ms for " + key, [&] { h->store->wait({key}, milliseconds(ms)); });
  return env.Undefined();
  LADET_CATCH(env)
}

Napi::Value PgBarrier(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LADET_TRY
  PgHandle* h = unwrapPg(info[0], "pgBarrier");
  collective(env, h, "barrier", [&] { h->pg->barrier()->wait(); });
  return env.Undefined();
  LADET_CATCH(env)
}

// pgAllGather(pg, t) -> a new tensor [worldSize, ...t.shape]: row r is rank r's t.
Napi::Value PgAllGather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LADET_TRY
  PgHandle* h = unwrapPg(info[0], "pgAllGather");
  auto arr = Napi::Array::New(env, 1);
  arr.Set(0u, info[1]);
  auto inputs = cpuTensors(env, arr, "pgAllGather");
  std::vector<int64_t> shape{h->world};
  for (int64_t s : inputs[0].sizes()) shape.push_back(s);
  at::Tensor out = at::empty(shape, inputs[0].options());
  std::vector<std::vector<at::Tensor>> outputs{out.unbind(0)};
  collective(env, h, "allGather", [&] { h->pg->allgather(outputs, inputs)->wait(); });
  return wrap(env, out);
  LADET_CATCH(env)
}

// pgDestroy(pg): releases the group now (idempotent); the handle stays a JS object that any later call refuses.
Napi::Value PgDestroy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  LADET_TRY
  if (!info[0].IsExternal() || !info[0].As<Napi::Object>().CheckTypeTag(&kProcessGroupTag)) {
    throw Napi::TypeError::New(env, "pgDestroy: expected a process group");
  }
  releasePg(info[0].As<Napi::External<PgHandle>>().Data());
  return env.Undefined();
  LADET_CATCH(env)
}

#else  // no c10d in this libtorch build

Napi::Value Unavailable(const Napi::CallbackInfo& info) {
  throw Napi::Error::New(info.Env(),
                         "c10d is not available in this libtorch build (the addon was compiled without c10d's Gloo "
                         "backend: torch/csrc/distributed/c10d/ProcessGroupGloo.hpp or gloo's headers were not found; "
                         "on Debian apt-get install libgloo-dev, then npm run build:native)");
}

#endif

}  // namespace

void registerDistributed(Napi::Env env, Napi::Object exports) {
  exports.Set("c10dAvailable", Napi::Function::New(env, C10dAvailable));
#ifdef LADET_WITH_C10D
  exports.Set("processGroupNew", Napi::Function::New(env, ProcessGroupNew));
  exports.Set("pgAllReduce", Napi::Function::New(env, PgAllReduce));
  exports.Set("pgBroadcast", Napi::Function::New(env, PgBroadcast));
  exports.Set("pgBarrier", Napi::Function::New(env, PgBarrier));
  exports.Set("pgAllGather", Napi::Function::New(env, PgAllGather));
  exports.Set("pgDestroy", Napi::Function::New(env, PgDestroy));
  exports.Set("pgStoreSet", Napi::Function::New(env, PgStoreSet));
  exports.Set("pgStoreWait", Napi::Function::New(env, PgStoreWait));
#else
  for (const char* name : {"processGroupNew", "pgAllReduce", "pgBroadcast", "pgBarrier", "pgAllGather", "pgDestroy",
                           "pgStoreSet", "pgStoreWait"}) {
    exports.Set(name, Napi::Function::New(env, Unavailable));
  }
#endif
}

}  // namespace ladet
