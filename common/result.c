/* result.c: HTTP statuses as the typed results of proto.h */
#include "proto.h"
#include "result.h"

int
result_of_http(long status)
{
	switch (status) {
	case 400:
	case 422:
		return RES_INVALID; /* our request was wrong */
	case 401:
		return RES_UNAUTHORIZED;
	case 403:
		return RES_FORBIDDEN;
	case 404:
		return RES_NOT_FOUND;
	case 409:
		return RES_CONFLICT;
	case 423:
		return RES_LOCKED;
	case 429:
		return RES_THROTTLED;
	}
	if (status >= 400 && status < 500)
		return RES_REFUSED; /* do not retry soon */
	if (status >= 500 && status < 600)
		return RES_TRANSIENT;
	return -1;
}
