/*
 * libscep: common definitions shared by every public header.
 */
#ifndef SCEP_COMMON_H
#define SCEP_COMMON_H

#if defined(_WIN32)
#define SCEP_EXPORT __declspec(dllexport)
#elif defined(__GNUC__)
#define SCEP_EXPORT __attribute__((visibility("default")))
#else
#define SCEP_EXPORT
#endif

#if defined(__GNUC__)
#define SCEP_MUST_CHECK __attribute__((warn_unused_result))
#else
#define SCEP_MUST_CHECK
#endif

/* The library version, also returned at run time by scep_version(). */
#define SCEP_VERSION_MAJOR  0
#define SCEP_VERSION_MINOR  1
#define SCEP_VERSION_PATCH  0
#define SCEP_VERSION_STRING "0.1.0"

#ifdef __cplusplus
extern "C" {
#endif

/* Returns the library's version string; a static string, never NULL. */
SCEP_EXPORT const char *scep_version(void);

#ifdef __cplusplus
}
#endif

#endif /* SCEP_COMMON_H */
