"""A small HTTP/1.1 client transport for httpx: the upstream and Google clients' default.

httpx stays the clients' API (requests, responses, timeouts, ``MockTransport`` in tests);
only the wire work is ours: a pool of kept-alive asyncio connections, answers parsed by
httptools (llhttp, the parser Node.js uses). httpx's own transport, httpcore, costs about
a millisecond of CPU per request and aiohttp's client about 0.12 ms; this one about
0.04 ms (bench/README.md, fifth round). With a proxy in the environment, httpx's own
transport is used instead (``default_transport``).

A request is sent once. The transport never sends one again, on a new connection or the
same one, whatever happened to it: whether a call that may have arrived is worth another
try is the caller's decision (``bridge.upstream._retry``), and it is taken from the
failure's type, so the types follow one rule: only a failure that proves nothing was
written says so.

===================================================  ==============================
what happened                                        httpx exception
===================================================  ==============================
no free connection within the pool timeout           PoolTimeout      (never left)
no connection within the connect timeout             ConnectTimeout   (never left)
connect refused or unreachable, DNS, TLS handshake   ConnectError     (never left)
or certificate
the request not written within the write timeout     WriteTimeout     (may have arrived)
the connection failed while the request was written  WriteError       (may have arrived)
no byte of the answer within the read timeout        ReadTimeout      (may have arrived)
(each read, as httpx's)
the connection failed while the answer was awaited   ReadError        (may have arrived)
the server closed it before answering in full, or    RemoteProtocolError (may have arrived)
answered with something that is not HTTP/1.1
a header with a line break, or not ASCII             LocalProtocolError (nothing sent)
a scheme other than http/https, or a HEAD request    UnsupportedProtocol (nothing sent)
===================================================  ==============================

A kept-alive connection the server has closed is the classic trap: the request goes out,
the server's close arrives instead of an answer. That is RemoteProtocolError (or
ReadError on a reset) like any other lost answer, and the request is not resent; reads
are tried again by the upstream client, writes are reconciled.
"""

from ._transport import Answer, Http1Transport, default_transport

__all__ = ["Answer", "Http1Transport", "default_transport"]
