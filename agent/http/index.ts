export { createHttpClient, httpOptionsFrom, USER_AGENT, type HttpClientOptions } from "./client.js";
export { withRetry, retryDelay, parseRetryAfter, isRetryableStatus, isRetryable, statusError, toHttpError, sleep, type RetryPolicy, type RetryEvent, type AttemptContext } from "./retry.js";
export { getJson, type JsonResponse } from "./json.js";
export { redirectPolicy, assertHttpUrl, MAX_REDIRECTS } from "./redirects.js";
