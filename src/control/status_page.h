#pragma once
// The live status page of a running `berth run`: GET / of its control API
// (docs/control-api.md, "The status page"). One static HTML document with
// its CSS and script inline: no outside file, no data in it. The script reads
// the run's token from the URL's fragment (#token=..., which the browser
// never sends), sends it as `Authorization: Bearer` to the data endpoints
// (GET /v1/status long-polled on its version, /v1/events long-polled,
// /v1/map once, /v1/log on a click) and without it shows only how to get it.
//
//   status_page.cc         the document and its CSS, the reply's headers
//   status_page_script.cc  the script

#include <string>

#include "control/control_http.h"

namespace berth::control {

// The whole page.
std::string StatusPageHtml();
// Its script (inlined by StatusPageHtml).
const char* StatusPageScript();

// GET / (any query): the one request served without the token.
bool IsStatusPageRequest(const HttpRequest& request);
// 200 text/html with headers that keep the page to itself: a Content
// Security Policy (its own inline script and style, requests only to this
// server, no outside file), no caching, no referrer, no framing.
HttpReply StatusPageReply();

}  // namespace berth::control
