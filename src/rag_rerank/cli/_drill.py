"""``rag-rerank drill``: hostile input and an overload burst against a running server.

Every case is a request a careless or hostile client could send. The server passes when no
case gets a 5xx and none hangs; a case that expects a specific 4xx and gets another is listed
but does not fail the drill. The burst then checks admission control: many clients at once
must each get a 200 within the deadline or an immediate 503, and the server must be back to
its idle latency right after.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from rag_rerank.cli._console import console, err_console, setup_logging

#: Answers a case may get without failing the drill; "closed" = the server closed the
#: connection without an answer (acceptable for protocol abuse, e.g. a 1 MB header).
Outcome = str


@dataclass
class Case:
    name: str
    method: str = "POST"
    path: str = "/v1/rerank"
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})
    expect: tuple[str, ...] = ("4xx",)
    raw: bytes | None = None  # sent as is over a socket (protocol-level cases)
    wait_s: float | None = None  # how long a silent server may take before it counts as a hang


@dataclass
class CaseResult:
    case: Case
    outcome: Outcome  # "200", "422", ..., "closed", "hang", "error:<type>"
    ms: float
    detail: str = ""

    @property
    def klass(self) -> str:
        if self.outcome.isdigit():
            return self.outcome[0] + "xx"
        return self.outcome

    @property
    def as_expected(self) -> bool:
        return self.klass in self.case.expect or self.outcome in self.case.expect


def _fill(template: str, value: str) -> str:
    return template.replace("@", value)


def _json(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _rerank(**fields: Any) -> bytes:
    body = {"query": "what is the capital of france", "documents": ["Paris is the capital of France.", "Bread."]}
    body.update(fields)
    return json.dumps(body).encode()


def build_cases(limits: dict[str, Any], api_key: str | None) -> list[Case]:
    """The bad-input cases (over 80), sized by the server's own limits where that matters."""
    max_docs = int(limits.get("reranker_max_documents", 1000))
    max_chars = int(limits.get("reranker_max_document_chars", 200_000))
    body_limit = int(limits.get("max_body_bytes", 10_000_000))
    body_timeout = float(limits.get("http_body_timeout_s", 10.0))
    ok = ("2xx",)
    cases: list[Case] = [Case("valid request (control)", body=_rerank(), expect=ok)]
    for value in ("NaN", "Infinity", "-Infinity", "1e400"):
        cases += [
            Case(f"top_n {value}", body=_json(_fill('{"query": "q", "documents": ["a", "b"], "top_n": @}', value))),
            Case(f"query {value}", body=_json(_fill('{"query": @, "documents": ["a"]}', value))),
            Case(f"document {value}", body=_json(_fill('{"query": "q", "documents": ["a", @]}', value))),
            Case(
                f"document field {value}, echoed",
                body=_json(
                    _fill('{"query": "q", "documents": [{"text": "a", "x": @}], "return_documents": true}', value)
                ),
            ),
            Case(f"/query top_k {value}", path="/query", body=_json(_fill('{"query": "bread", "top_k": @}', value))),
        ]
    cases += [
        Case("query lone low surrogate", body=_json('{"query": "bread \\udfff", "documents": ["a"]}')),
        Case("query lone high surrogate", body=_json('{"query": "\\ud800", "documents": ["a"]}')),
        Case("document lone surrogate", body=_json('{"query": "q", "documents": ["ok", "\\udfff"]}')),
        Case(
            "document extra field surrogate, echoed",
            body=_json('{"query": "q", "documents": [{"text": "a", "t": "\\udc00"}], "return_documents": true}'),
        ),
        Case("/query lone surrogate", path="/query", body=_json('{"query": "x \\udfff"}')),
        Case("/query user_id surrogate", path="/query", body=_json('{"query": "x", "user_id": "\\ud83d"}')),
        Case(
            "surrogate pair (valid emoji)",
            body=_json('{"query": "\\ud83d\\ude00 food", "documents": ["a"]}'),
            expect=ok,
        ),
    ]
    for name, value in (
        ("true", "true"),
        ('"2"', '"2"'),
        ("1.5", "1.5"),
        ("-1", "-1"),
        ("0", "0"),
        ("10**30 (means all)", "1" + "0" * 30),
        ("[1]", "[1]"),
        ("{}", "{}"),
    ):
        body = _json(_fill('{"query": "q", "documents": ["a", "b"], "top_n": @}', value))
        cases.append(Case(f"top_n {name}", body=body, expect=("2xx",) if "means all" in name else ("4xx",)))
    cases.append(
        Case("top_n null (allowed)", body=_json('{"query": "q", "documents": ["a"], "top_n": null}'), expect=ok)
    )
    for name, value in (
        ("empty", '""'),
        ("whitespace", '"   "'),
        ("null", "null"),
        ("number", "5"),
        ("list", '["q"]'),
        ("object", '{"q": 1}'),
        ("over 10,000 chars", json.dumps("q" * 10_001)),
    ):
        cases.append(Case(f"query {name}", body=_json(_fill('{"query": @, "documents": ["a"]}', value))))
    cases += [
        Case("query missing", body=b'{"documents": ["a"]}'),
        Case("documents missing", body=b'{"query": "q"}'),
        Case("documents empty", body=b'{"query": "q", "documents": []}'),
        Case("documents a string", body=b'{"query": "q", "documents": "abc"}'),
        Case("documents null", body=b'{"query": "q", "documents": null}'),
        Case("document a number", body=b'{"query": "q", "documents": ["a", 3]}'),
        Case("document null", body=b'{"query": "q", "documents": [null]}'),
        Case("document a nested list", body=b'{"query": "q", "documents": [["a"]]}'),
        Case("document dict without text", body=b'{"query": "q", "documents": [{"title": "t"}]}'),
        Case("document dict text a number", body=b'{"query": "q", "documents": [{"text": 1}]}'),
        Case(f"{max_docs + 1} documents (over the limit)", body=_rerank(documents=["d"] * (max_docs + 1))),
        Case("100,000 documents", body=_rerank(documents=["d"] * 100_000), expect=("4xx",)),
        Case("a 1 MB document", body=_rerank(documents=["x" * 1_000_000]), expect=("4xx",)),
        Case(
            f"a document of {max_chars} characters (at the limit)",
            body=_rerank(documents=[("lorem ipsum " * (max_chars // 12 + 1))[:max_chars]]),
            expect=("2xx", "413", "503", "504"),
        ),
        Case(
            f"{max_docs} short documents (at the limit)",
            body=_rerank(documents=[f"short passage number {i}" for i in range(max_docs)]),
            expect=("2xx", "413", "503", "504"),
        ),
        Case("return_documents a string", body=_rerank(return_documents="yes")),
        Case("empty and blank documents", body=_rerank(documents=["", "   ", "\n\t"]), expect=("2xx", "4xx")),
        Case("special tokens as text", body=_rerank(query="[CLS] [SEP] [PAD]", documents=["[SEP]" * 600]), expect=ok),
        Case("duplicate keys", body=b'{"query": "a", "query": "capital", "documents": ["x"]}', expect=("2xx", "4xx")),
        Case("unknown fields (ignored, as Cohere does)", body=_rerank(rank_fields=["text"], foo=1), expect=ok),
        Case(
            "unicode edge cases",
            body=_rerank(
                query="é\u0301 \u200d\u200b \u202e RTL \ufeff 日本語 \U0001f600 \u0000 end",
                documents=["\u0000\u0001\u0007 control", "\U0001f468\u200d\U0001f469\u200d\U0001f467", "ﬁ ligature"],
            ),
            expect=ok,
        ),
        Case("deeply nested JSON", body=b'{"query": ' + b"[" * 100_000 + b"]" * 100_000 + b', "documents": ["a"]}'),
        Case("invalid JSON", body=b'{"query": "q", "documents": ['),
        Case("invalid UTF-8", body=b'{"query": "\xff\xfe\xfd", "documents": ["a"]}'),
        Case("empty body", body=b""),
        Case("body null", body=b"null"),
        Case("body a list", body=b"[]"),
        Case("body a string", body=b'"query"'),
        Case("body a number", body=b"42"),
        Case("trailing garbage", body=_rerank() + b" garbage"),
        Case("content-type text/plain", body=_rerank(), headers={"Content-Type": "text/plain"}),
        Case("no content-type", body=_rerank(), headers={}),
        Case(
            "form-encoded body",
            body=b"query=q&documents=a",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        Case(
            "multipart body",
            body=b'--b\r\nContent-Disposition: form-data; name="query"\r\n\r\nq\r\n--b--\r\n',
            headers={"Content-Type": "multipart/form-data; boundary=b"},
        ),
        Case("GET /v1/rerank", method="GET", body=None, headers={}),
        Case("PUT /v1/rerank", method="PUT", body=_rerank()),
        Case("DELETE /query", method="DELETE", path="/query", body=None, headers={}),
        Case("GET unknown path", method="GET", path="/no/such/thing", body=None, headers={}),
        Case("path traversal", method="GET", path="/../../etc/passwd", body=None, headers={}),
        Case("/query top_k 0", path="/query", body=b'{"query": "x", "top_k": 0}'),
        Case("/query top_k 100000", path="/query", body=b'{"query": "x", "top_k": 100000}'),
        Case("/query top_k a string", path="/query", body=b'{"query": "x", "top_k": "5"}'),
        Case("/query unknown field", path="/query", body=b'{"query": "x", "surprise": 1}'),
        Case("/query query 20,000 chars", path="/query", body=json.dumps({"query": "w " * 10_000}).encode()),
        Case("/query body a list", path="/query", body=b'["x"]'),
        Case("/query valid (control)", path="/query", body=b'{"query": "how do I catch an exception"}', expect=ok),
        Case("/v2/rerank valid (control)", path="/v2/rerank", body=_rerank(), expect=ok),
        Case("/v2/rerank NaN", path="/v2/rerank", body=_json('{"query": "q", "documents": ["a"], "top_n": NaN}')),
        Case(
            "Accept application/xml",
            body=_rerank(),
            headers={"Content-Type": "application/json", "Accept": "text/xml"},
            expect=ok,
        ),
    ]
    head = "POST /v1/rerank HTTP/1.1\r\nHost: drill\r\nContent-Type: application/json\r\n"
    big = _rerank(documents=["y" * 1000] * (body_limit // 1000 + 2))
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(big[i : i + 65536]), big[i : i + 65536]) for i in range(0, len(big), 65536)
    )
    cases += [
        Case(
            "100 KB header",
            raw=(f"GET /health HTTP/1.1\r\nHost: d\r\nX-Big: {'a' * 100_000}\r\n\r\n").encode(),
            expect=("4xx", "closed"),
        ),
        Case(
            "1 MB header",
            raw=(f"GET /health HTTP/1.1\r\nHost: d\r\nX-Big: {'a' * 1_000_000}\r\n\r\n").encode(),
            expect=("4xx", "closed"),
        ),
        Case(
            "10 MB header",
            raw=(f"GET /health HTTP/1.1\r\nHost: d\r\nX-Big: {'a' * 10_000_000}\r\n\r\n").encode(),
            expect=("4xx", "closed"),
        ),
        Case(
            "300 headers",
            raw=(
                "GET /health HTTP/1.1\r\nHost: d\r\n" + "".join(f"X-{i}: v\r\n" for i in range(300)) + "\r\n"
            ).encode(),
            expect=("4xx", "closed"),
        ),
        Case(
            "declared body of 1 TB",
            raw=(head + "Content-Length: 1000000000000\r\n\r\n{").encode(),
            expect=("413", "4xx", "closed"),
        ),
        Case(
            "chunked body over MAX_BODY_BYTES",
            raw=(head + "Transfer-Encoding: chunked\r\n\r\n").encode() + chunks + b"0\r\n\r\n",
            expect=("413", "closed"),
        ),
        Case(
            "body that never finishes",
            raw=(head + 'Content-Length: 1000\r\n\r\n{"query": ').encode(),
            expect=("408", "closed"),
            wait_s=body_timeout + 10,
        ),
        Case(
            "request head that never finishes",
            raw=b"POST /v1/rerank HTTP/1.1\r\nHost: drill\r\n",
            expect=("closed", "4xx"),
            wait_s=body_timeout + 10,
        ),
        Case("garbage instead of HTTP", raw=b"GARBAGE GARBAGE\r\n\r\n", expect=("4xx", "closed")),
        Case(
            "invalid chunk size",
            raw=(head + "Transfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n0\r\n\r\n").encode(),
            expect=("4xx", "closed"),
        ),
        Case("HTTP/1.0 request", raw=b"GET /health HTTP/1.0\r\n\r\n", expect=("2xx",)),
        Case("100 KB path", raw=b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: d\r\n\r\n", expect=("4xx", "closed")),
        Case(
            "non-ASCII header bytes",
            raw=(head + f"X-Name: caf\u00e9\r\nContent-Length: {len(_rerank())}\r\n\r\n").encode() + _rerank(),
            expect=("2xx", "4xx", "closed"),
        ),
        Case(
            "Expect: 100-continue",
            raw=(head + f"Expect: 100-continue\r\nContent-Length: {len(_rerank())}\r\n\r\n").encode() + _rerank(),
            expect=("2xx", "1xx"),
        ),
    ]
    auth = {"Content-Type": "application/json"}
    if api_key:
        cases += [
            Case("no API key", body=_rerank(), headers=auth, expect=("401",)),
            Case("wrong API key", body=_rerank(), headers={**auth, "Authorization": "Bearer wrong"}, expect=("401",)),
            Case("API key without Bearer", body=_rerank(), headers={**auth, "Authorization": api_key}, expect=("401",)),
            Case(
                "non-ASCII API key",
                raw=(head + f"Authorization: Bearer cl\u00e9\r\nContent-Length: {len(_rerank())}\r\n\r\n").encode()
                + _rerank(),
                expect=("401", "4xx", "closed"),
            ),
        ]
    else:
        cases.append(
            Case(
                "Authorization header on an open server",
                body=_rerank(),
                headers={**auth, "Authorization": "Bearer anything"},
                expect=ok,
            )
        )
    return cases


async def _send_raw(host: str, port: int, payload: bytes, wait_s: float) -> tuple[Outcome, str]:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=10)
    try:
        writer.write(payload)
        with contextlib.suppress(ConnectionError, TimeoutError):
            await asyncio.wait_for(writer.drain(), timeout=wait_s)
        data = b""
        try:
            data = await asyncio.wait_for(reader.read(65536), timeout=wait_s)
        except TimeoutError:
            return "hang", f"no answer in {wait_s:g} s"
        except ConnectionError:
            return "closed", "connection reset"
        while data.startswith(b"HTTP/1.1 100"):
            rest = data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""
            data = rest or await asyncio.wait_for(reader.read(65536), timeout=wait_s)
        if not data:
            return "closed", "connection closed without an answer"
        status_line = data.split(b"\r\n", 1)[0].decode("latin-1")
        parts = status_line.split()
        return (parts[1] if len(parts) > 1 and parts[1].isdigit() else "error:bad-status"), status_line
    finally:
        writer.close()


async def run_cases(url: str, cases: list[Case], api_key: str | None, timeout: float) -> list[CaseResult]:
    import httpx

    parsed = httpx.URL(url)
    host, port = parsed.host, parsed.port or 80
    results: list[CaseResult] = []
    async with httpx.AsyncClient(base_url=url, timeout=timeout) as http:
        for case in cases:
            headers = dict(case.headers)
            if api_key and "Authorization" not in headers and not case.name.endswith("API key"):
                headers["Authorization"] = f"Bearer {api_key}"
            started = time.perf_counter()
            wait = case.wait_s or timeout
            try:
                if case.raw is not None:
                    outcome, detail = await asyncio.wait_for(_send_raw(host, port, case.raw, wait), timeout=wait + 15)
                else:
                    response = await http.request(
                        case.method, case.path, content=case.body, headers=headers, timeout=wait
                    )
                    outcome, detail = str(response.status_code), _message(response)
            except (httpx.TimeoutException, TimeoutError):
                outcome, detail = "hang", f"no answer in {wait:g} s"
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, ConnectionError) as exc:
                outcome, detail = "closed", type(exc).__name__
            except Exception as exc:
                outcome, detail = f"error:{type(exc).__name__}", str(exc)[:120]
            results.append(CaseResult(case, outcome, (time.perf_counter() - started) * 1000, detail))
    return results


def _message(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"not JSON: {response.text[:60]!r}"
    if isinstance(body, dict):
        text = body.get("message") or body.get("detail") or ""
        return str(text)[:120]
    return "JSON"


def _burst_documents(rng: random.Random, count: int) -> list[str]:
    words = [
        "river",
        "capital",
        "bread",
        "engine",
        "python",
        "coffee",
        "music",
        "ocean",
        "forest",
        "planet",
        "energy",
        "market",
        "city",
        "light",
    ]
    return [" ".join(rng.choice(words) for _ in range(30)) for _ in range(count)]


async def run_burst(
    url: str, clients: int, documents: int, seconds: float, api_key: str | None, deadline_s: float
) -> dict[str, Any]:
    """``clients`` concurrent clients, each sending ``documents`` distinct documents in a loop for
    ``seconds``; then the first request after the burst against the idle latency before it."""
    import httpx

    from rag_core.evaluation._speed import percentile

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    rng = random.Random(7)
    probe_docs = _burst_documents(rng, 10)
    timeout = deadline_s + 30

    probe_failures: dict[str, int] = {}

    async def probe(http: httpx.AsyncClient, n: int) -> float | None:
        """One small request's latency, or None (counted in ``probe_failures``) when it fails."""
        started = time.perf_counter()
        try:
            response = await http.post(
                "/v1/rerank", json={"query": f"probe {n} capital city", "documents": probe_docs}, timeout=timeout
            )
        except httpx.HTTPError as exc:
            probe_failures[type(exc).__name__] = probe_failures.get(type(exc).__name__, 0) + 1
            return None
        if response.status_code != 200:
            probe_failures[str(response.status_code)] = probe_failures.get(str(response.status_code), 0) + 1
            return None
        return (time.perf_counter() - started) * 1000

    # idle connections are dropped before the server's keep-alive timeout (HTTP_KEEPALIVE_TIMEOUT_S,
    # default 5 s): reusing one the server is closing at that instant is a client-side race
    limits = httpx.Limits(max_connections=clients + 4, max_keepalive_connections=clients + 4, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits) as http:
        idle_probes = [ms for ms in [await probe(http, n) for n in range(3)] if ms is not None]
        idle = statistics.median(idle_probes) if idle_probes else None
        ok_ms: list[float] = []
        refused_ms: list[float] = []
        other: dict[str, int] = {}
        retry_after_missing = 0
        stop = time.perf_counter() + seconds

        async def client(number: int) -> None:
            nonlocal retry_after_missing
            local = random.Random(number)
            n = 0
            while time.perf_counter() < stop:
                body = {"query": f"burst {number}-{n} river city", "documents": _burst_documents(local, documents)}
                n += 1
                started = time.perf_counter()
                try:
                    response = await http.post("/v1/rerank", json=body, timeout=timeout)
                except httpx.HTTPError as exc:
                    other[type(exc).__name__] = other.get(type(exc).__name__, 0) + 1
                    continue
                ms = (time.perf_counter() - started) * 1000
                if response.status_code == 200:
                    ok_ms.append(ms)
                elif response.status_code == 503:
                    refused_ms.append(ms)
                    if "retry-after" not in response.headers:
                        retry_after_missing += 1
                    await asyncio.sleep(min(1.0, float(response.headers.get("retry-after", "1"))) * local.random())
                else:
                    other[str(response.status_code)] = other.get(str(response.status_code), 0) + 1

        await asyncio.gather(*(client(i) for i in range(clients)))
        after = await probe(http, 99)
    return {
        "clients": clients,
        "documents": documents,
        "seconds": seconds,
        "ok": len(ok_ms),
        "refused_503": len(refused_ms),
        "other": other,
        "ok_p50_ms": percentile(ok_ms, 50) if ok_ms else None,
        "ok_p99_ms": percentile(ok_ms, 99) if ok_ms else None,
        "ok_max_ms": max(ok_ms) if ok_ms else None,
        "ok_over_deadline": sum(1 for ms in ok_ms if ms > deadline_s * 1000),
        "refused_p50_ms": percentile(refused_ms, 50) if refused_ms else None,
        "refused_p99_ms": percentile(refused_ms, 99) if refused_ms else None,
        "retry_after_missing": retry_after_missing,
        "idle_ms": idle,
        "first_after_ms": after,
        "recovery_ratio": after / idle if idle and after is not None else None,
        "probe_failures": probe_failures,
        "deadline_s": deadline_s,
    }


async def _health(url: str, api_key: str | None) -> dict[str, Any]:
    import httpx

    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        response = await http.get("/health")
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data


def drill(
    url: Annotated[str, typer.Option(help="Base URL of a running rag-rerank server.")] = "http://127.0.0.1:8000",
    api_key: Annotated[str | None, typer.Option(help="The server's API_KEY, if it has one (adds auth cases).")] = None,
    burst_clients: Annotated[int, typer.Option(help="Concurrent clients in the overload burst (0: no burst).")] = 64,
    burst_documents: Annotated[int, typer.Option(help="Documents per burst request.")] = 50,
    burst_seconds: Annotated[float, typer.Option(help="Length of the burst.")] = 30.0,
    timeout: Annotated[float, typer.Option(help="Seconds without an answer that count as a hang.")] = 60.0,
    output: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    log_level: Annotated[str, typer.Option()] = "WARNING",
) -> None:
    """Send 80+ hostile requests and an overload burst; exit 1 on any 5xx or hang."""
    setup_logging(log_level)
    url = url.rstrip("/")
    before = asyncio.run(_health(url, api_key))
    limits = before.get("limits", {})
    cases = build_cases(limits, api_key)
    err_console.print(f"drill: {len(cases)} cases against {url}")
    results = asyncio.run(run_cases(url, cases, api_key, timeout))
    burst = None
    if burst_clients > 0:
        err_console.print(f"burst: {burst_clients} clients x {burst_documents} documents for {burst_seconds:g} s")
        burst = asyncio.run(
            run_burst(
                url, burst_clients, burst_documents, burst_seconds, api_key, float(limits.get("reranker_timeout_s", 15))
            )
        )
    after = asyncio.run(_health(url, api_key))
    counts: dict[str, int] = {}
    for r in results:
        counts[r.klass] = counts.get(r.klass, 0) + 1
    failures = [r for r in results if r.klass in ("5xx", "hang") or r.outcome.startswith("error:")]
    burst_failures = []
    if burst is not None:
        bad = {k: v for k, v in burst["other"].items() if k != "429"}
        if bad:
            burst_failures.append(f"burst answers other than 200/503: {bad}")
        if burst["probe_failures"]:
            burst_failures.append(f"the small probe requests around the burst failed: {burst['probe_failures']}")
        if burst["ok_over_deadline"]:
            burst_failures.append(f"{burst['ok_over_deadline']} answers over the {burst['deadline_s']:g} s deadline")
    rss = (before.get("process", {}).get("rss_mb"), after.get("process", {}).get("rss_mb"))
    summary = {
        "url": url,
        "cases": len(results),
        "counts": counts,
        "unexpected": [
            {"case": r.case.name, "got": r.outcome, "expected": list(r.case.expect)}
            for r in results
            if not r.as_expected
        ],
        "failures": [{"case": r.case.name, "got": r.outcome, "detail": r.detail} for r in failures] + burst_failures,
        "burst": burst,
        "rss_mb_before": rss[0],
        "rss_mb_after": rss[1],
    }
    if output == "json":
        console.print_json(json.dumps(summary))
    else:
        _print_tables(results, summary)
    if failures or burst_failures:
        raise typer.Exit(1)


def _print_tables(results: list[CaseResult], summary: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=f"rag-rerank drill: {summary['url']}")
    for column in ("case", "answer", "ms", "expected", "message"):
        table.add_column(column, overflow="fold")
    for r in results:
        mark = "" if r.as_expected else " (!)"
        style = "red" if r.klass in ("5xx", "hang") else ("yellow" if mark else "")
        table.add_row(r.case.name, r.outcome + mark, f"{r.ms:.0f}", "/".join(r.case.expect), r.detail[:70], style=style)
    console.print(table)
    counts = summary["counts"]
    console.print(
        "counts: "
        + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        + f" · 5xx {counts.get('5xx', 0)} · hangs {counts.get('hang', 0)}"
        + f" · other answer than expected {len(summary['unexpected'])}"
    )
    burst = summary["burst"]
    if burst:

        def ms(value: float | None) -> str:
            return "-" if value is None else f"{value:.0f} ms"

        console.print(
            f"burst ({burst['clients']} clients x {burst['documents']} documents, {burst['seconds']:g} s): "
            f"200: {burst['ok']} (p50 {ms(burst['ok_p50_ms'])}, p99 {ms(burst['ok_p99_ms'])}, "
            f"max {ms(burst['ok_max_ms'])}, "
            f"over the {burst['deadline_s']:g} s deadline: {burst['ok_over_deadline']}) · "
            f"503: {burst['refused_503']} (p50 {ms(burst['refused_p50_ms'])}, p99 {ms(burst['refused_p99_ms'])}) · "
            f"other: {burst['other'] or 'none'}"
        )
        console.print(
            f"recovery: idle {ms(burst['idle_ms'])}, first request after the burst {ms(burst['first_after_ms'])}"
            + (f" ({burst['recovery_ratio']:.2f}x idle)" if burst["recovery_ratio"] is not None else " (probe failed)")
        )
    console.print(f"server RSS: {summary['rss_mb_before']} MB before, {summary['rss_mb_after']} MB after")
    if summary["failures"]:
        console.print(f"[red]FAILED[/]: {summary['failures']}")
    else:
        console.print("[green]no 5xx, no hang[/]")
    sys.stdout.flush()
