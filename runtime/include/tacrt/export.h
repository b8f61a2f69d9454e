/* export.h: what libtacrt exports. The library is built with hidden default
 * visibility; only declarations marked TACRT_API (the C API, the C++ API's
 * classes and functions) are part of its ABI. */
#ifndef TACRT_EXPORT_H
#define TACRT_EXPORT_H

#if defined(__cplusplus)
#define TACRT_API [[gnu::visibility("default")]]
/* A member of an exported class that stays out of the ABI (private
 * constructors of pimpl classes). */
#define TACRT_HIDDEN [[gnu::visibility("hidden")]]
#else
#define TACRT_API __attribute__((visibility("default")))
#endif

#endif /* TACRT_EXPORT_H */
