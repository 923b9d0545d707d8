{
  "targets": [
    {
      "target_name": "ladet_native",
      "sources": ["native/addon.cc", "native/dispatch.cc", "native/tensor_handle.cc", "native/host_memory.cc", "native/distributed.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node native/find-libtorch.mjs include)"
      ],
      "libraries": ["<!@(node native/find-libtorch.mjs libs)"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "<!@(node native/find-libtorch.mjs defines)"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O2", "-Wno-unused-parameter", "-Wno-deprecated-declarations"]
    }
  ]
}
