/* kname.h: Kubernetes name and label syntax, checked the apiserver's way */
#ifndef KNAME_H
#define KNAME_H

#include <stddef.h>

/* Each takes s[0..n) (no NUL needed) and returns 1 when valid, else 0. */

/* DNS-1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 (a namespace). */
int kname_label(const char *s, size_t n);
/* DNS-1123 subdomain: such labels joined by dots, at most 253 in all; as
 * the apiserver's IsDNS1123Subdomain, a label inside may exceed 63. */
int kname_subdomain(const char *s, size_t n);
/* Label name or value: [A-Za-z0-9] at both ends, [-_.A-Za-z0-9] inside,
 * 1..63 (an empty value is the caller's decision). */
int kname_label_value(const char *s, size_t n);
/* Label key: optional "subdomain/" prefix, then a label name. */
int kname_label_key(const char *s, size_t n);

#endif /* KNAME_H */
