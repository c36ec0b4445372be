/* result.h: HTTP statuses as the typed results of proto.h */
#ifndef RESULT_H
#define RESULT_H

/* The enum proto_result for an error status (400..599) of either API,
 * or -1 for any other status: success, redirects and non-answers are
 * each API's own call.  The API's error body may refine it (both
 * workers look at it first). */
int result_of_http(long status);

#endif /* RESULT_H */
