// libquiver is built with hidden symbol visibility so that its internals (hnswlib
// templates, SIMD kernels) never clash with a host program's own copies; QUIVER_API
// marks the public surface.
#pragma once

#if defined(_WIN32)
#define QUIVER_API __declspec(dllexport)
#else
#define QUIVER_API __attribute__((visibility("default")))
#endif
