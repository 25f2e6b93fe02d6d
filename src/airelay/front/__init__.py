"""The gateway's own HTTP/1.1 front for its hot routes.

Every connection is accepted here. A request to one of the relay's busiest routes (``POST``
chat completions, Messages, Responses) is parsed with httptools and given to its handler as
a ``FrontRequest``: the few request attributes those handlers read, and a response written
straight to the socket. Anything else (another route, HTTP/1.0, ``Expect``, ``Upgrade``, a
compressed body, a head the parser refuses) is handed, with the bytes received so far, to
aiohttp's own connection protocol, which then serves that connection to its end.

Why: measured behind the gateway's own upstream client, aiohttp's server was more than half
of a pass-through's CPU (BENCHMARKS.md); for these routes it built a task, a request and
response object graph, a deferred head and a ten-header response per call.
"""
