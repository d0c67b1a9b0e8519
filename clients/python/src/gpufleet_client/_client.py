"""A blocking client for the gpufleet gateway, on the standard library only (http.client).

Every call opens its own connection, so one Client may be shared by threads. Calls that create work
(submit, tts, video, upload) send an Idempotency-Key, so that a retry after a 429 or 503 (or a broken
connection) can never make a second job.
"""
import http.client
import json
import os
import random
import secrets
import ssl
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Mapping, Optional, Tuple, Union

from ._errors import ApiError, ConnectionFailed, JobFailed

JsonObject = Dict[str, Any]

FINAL_STATES = frozenset({"succeeded", "failed", "cancelled", "expired"})
RETRIED_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class Event:
    """One server-sent event of GET /v1/jobs/{id}/events: `event` is "snapshot" (the whole record) or
    "job" (a change), `data` the parsed JSON."""

    event: str
    data: JsonObject


class _Response:
    """A whole answer, read: status, headers (lower-case names) and body."""

    def __init__(self, status: int, headers: Dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> JsonObject:
        try:
            value = json.loads(self.body) if self.body else {}
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


def _error_from(status: int, headers: Mapping[str, str], body: bytes) -> ApiError:
    try:
        parsed = json.loads(body) if body else {}
    except ValueError:
        parsed = {}
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if not isinstance(error, dict):
        error = {}
    retry_after: Optional[float] = None
    if "retry-after" in headers:
        try:
            retry_after = max(0.0, float(headers["retry-after"]))
        except ValueError:
            retry_after = None
    return ApiError(status, str(error.get("code", "http_%d" % status)), str(error.get("message", body[:200])),
                    retry_after, parsed if isinstance(parsed, dict) else None)


class Client:
    """A gateway at `url` (default: GPU_SERVICE_URL, then GPUFLEET_URL, then http://127.0.0.1:8001).

    `api_key` (default GPUFLEET_API_KEY) is sent as a bearer token. `timeout` bounds each socket read in
    seconds; the synchronous tts/video calls wait up to `sync_timeout`. `retries` is how many times a 429,
    503 or broken connection is tried again, waiting Retry-After when the gateway gives one and an
    exponential, jittered backoff otherwise (at most `max_backoff` seconds).
    """

    def __init__(self, url: Optional[str] = None, api_key: Optional[str] = None, timeout: float = 30.0,
                 sync_timeout: float = 600.0, retries: int = 4, max_backoff: float = 30.0,
                 ssl_context: Optional[ssl.SSLContext] = None) -> None:
        url = url or os.environ.get("GPU_SERVICE_URL") or os.environ.get("GPUFLEET_URL") or "http://127.0.0.1:8001"
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("url must be http://host[:port] or https://host[:port], not %r" % url)
        self.url = url.rstrip("/")
        self._https = parsed.scheme == "https"
        self._host = parsed.hostname
        self._port = parsed.port or (443 if self._https else 80)
        self._base = parsed.path.rstrip("/")
        self._api_key = api_key if api_key is not None else os.environ.get("GPUFLEET_API_KEY")
        self._timeout = timeout
        self._sync_timeout = sync_timeout
        self._retries = max(0, retries)
        self._max_backoff = max_backoff
        self._ssl = ssl_context or (ssl.create_default_context() if self._https else None)

    # --- The original service's calls -------------------------------------------------------------

    def health(self) -> JsonObject:
        """GET /health. The body comes back whether the fleet is healthy (200) or not (503)."""
        response = self._request("GET", "/health", retry=False)
        if response.status not in (200, 503):
            raise _error_from(response.status, response.headers, response.body)
        return response.json()

    def tts(self, text: str, language: Optional[str] = None, speaker_wav: Optional[str] = None,
            model: Optional[str] = None, **parameters: Any) -> JsonObject:
        """POST /tts/generate: waits for the speech and returns {"success", "audio_path", "duration_s",
        "generation_time_ms", "job_id", "model"}. A failed job raises ApiError with its code."""
        body: JsonObject = {"text": text, **parameters}
        if language is not None:
            body["language"] = language
        if speaker_wav is not None:
            body["speaker_wav"] = speaker_wav
        if model is not None:
            body["model"] = model
        return self._json("POST", "/tts/generate", body, timeout=self._sync_timeout, idempotent=True)

    def video(self, reference_image: str, audio_path: Optional[str] = None, text: Optional[str] = None,
              mode: Optional[str] = None, model: Optional[str] = None, **parameters: Any) -> JsonObject:
        """POST /video/generate: a talking head of `reference_image` speaking `audio_path` (or `text`, made
        into speech first). `mode`: talking_head/liveportrait or lip_sync/lipsync/wav2lip."""
        body: JsonObject = {"reference_image": reference_image, **parameters}
        for name, value in (("audio_path", audio_path), ("text", text), ("mode", mode), ("model", model)):
            if value is not None:
                body[name] = value
        return self._json("POST", "/video/generate", body, timeout=self._sync_timeout, idempotent=True)

    def lipsync(self, video: str, audio_path: Optional[str] = None, text: Optional[str] = None,
                model: Optional[str] = None, **parameters: Any) -> JsonObject:
        """POST /lipsync/generate: the uploaded `video` (its `upload(...)["video"]`) with its sound replaced by
        `audio_path` (or `text`, made into speech first) and the mouth moved to it."""
        body: JsonObject = {"video": video, **parameters}
        for name, value in (("audio_path", audio_path), ("text", text), ("model", model)):
            if value is not None:
                body[name] = value
        return self._json("POST", "/lipsync/generate", body, timeout=self._sync_timeout, idempotent=True)

    # --- The async job API ------------------------------------------------------------------------

    def submit(self, input: JsonObject, kind: str = "tts", model: Optional[str] = None,
               priority: Optional[int] = None, timeout_s: Optional[float] = None, webhook: Optional[str] = None,
               idempotency_key: Optional[str] = None) -> JsonObject:
        """POST /v1/jobs: queues a job and returns its record ({"id", "state": "queued", ...}). The same
        `idempotency_key` (one is made when none is given) returns the same job instead of a new one."""
        body: JsonObject = {"kind": kind, "input": input}
        for name, value in (("model", model), ("priority", priority), ("timeout_s", timeout_s), ("webhook", webhook)):
            if value is not None:
                body[name] = value
        return self._json("POST", "/v1/jobs", body, idempotent=True, idempotency_key=idempotency_key)

    def get(self, job_id: str) -> JsonObject:
        """GET /v1/jobs/{id}: the job's record as it is now."""
        return self._json("GET", "/v1/jobs/" + _job_path(job_id))

    def jobs(self, limit: int = 20) -> List[JsonObject]:
        """GET /v1/jobs: the key's most recent jobs, newest first."""
        return list(self._json("GET", "/v1/jobs?limit=%d" % int(limit)).get("jobs", []))

    def wait(self, job_id: str, timeout: Optional[float] = None, poll: float = 60.0,
             raise_on_failure: bool = False) -> JsonObject:
        """Long-polls GET /v1/jobs/{id}?wait= until the job is final or `timeout` seconds pass (None: no
        limit), and returns its record. With `raise_on_failure`, a job that did not succeed raises JobFailed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = poll if deadline is None else min(poll, max(0.0, deadline - time.monotonic()))
            job = self._json("GET", "/v1/jobs/%s?wait=%g" % (_job_path(job_id), remaining),
                             timeout=remaining + self._timeout)
            if job.get("state") in FINAL_STATES:
                if raise_on_failure and job.get("state") != "succeeded":
                    raise JobFailed(job)
                return job
            if deadline is not None and time.monotonic() >= deadline:
                return job

    def cancel(self, job_id: str) -> JsonObject:
        """DELETE /v1/jobs/{id}: cancels a queued job, or asks its worker to stop a running one."""
        return self._json("DELETE", "/v1/jobs/" + _job_path(job_id))

    def events(self, job_id: str) -> Iterator[Event]:
        """GET /v1/jobs/{id}/events: the job's record ("snapshot"), then each change ("job") as it
        happens; the iterator ends after the final state."""
        connection, response = self._open("GET", "/v1/jobs/%s/events" % _job_path(job_id),
                                          {"Accept": "text/event-stream"}, timeout=None)
        try:
            name, data = "message", []  # type: Tuple[str, List[str]]
            while True:
                line = response.readline(1 << 20)
                if not line:
                    return
                text = line.decode("utf-8", "replace").rstrip("\r\n")
                if text == "":
                    if data:
                        try:
                            parsed = json.loads("\n".join(data))
                        except ValueError:
                            parsed = {"raw": "\n".join(data)}
                        yield Event(name, parsed if isinstance(parsed, dict) else {"value": parsed})
                    name, data = "message", []
                elif text.startswith(":"):
                    continue  # a comment: the stream's greeting or a keep-alive
                elif text.startswith("event:"):
                    name = text[6:].strip()
                elif text.startswith("data:"):
                    data.append(text[5:].lstrip(" "))
        finally:
            connection.close()

    def stream_audio(self, job_id: str, chunk_bytes: int = 8192) -> Iterator[bytes]:
        """GET /v1/jobs/{id}/stream: a speech job's WAV bytes as the worker makes them (the first chunk
        holds the WAV header). A stream cut short (the job failed after audio went out) raises
        ConnectionFailed."""
        connection, response = self._open("GET", "/v1/jobs/%s/stream" % _job_path(job_id), {}, timeout=None)
        try:
            while True:
                try:
                    chunk = response.read1(chunk_bytes) if hasattr(response, "read1") else response.read(chunk_bytes)
                except http.client.IncompleteRead as cut:
                    raise ConnectionFailed("the audio stream of job %s ended early" % job_id) from cut
                if not chunk:
                    return
                yield chunk
        finally:
            connection.close()

    def result(self, job_id: str) -> bytes:
        """GET /v1/jobs/{id}/result: the finished job's file (WAV or MP4) in memory."""
        response = self._request("GET", "/v1/jobs/%s/result" % _job_path(job_id))
        if response.status != 200:
            raise _error_from(response.status, response.headers, response.body)
        return response.body

    def download(self, job_id: str, path: Union[str, "os.PathLike[str]"]) -> str:
        """Writes the finished job's file to `path` (through a temporary name, so a broken download
        leaves no partial file) and returns the path."""
        connection, response = self._open("GET", "/v1/jobs/%s/result" % _job_path(job_id), {}, timeout=self._timeout)
        target = os.fspath(path)
        partial = target + ".part"
        try:
            with open(partial, "wb") as out:
                while True:
                    chunk = response.read(1 << 16)
                    if not chunk:
                        break
                    out.write(chunk)
            os.replace(partial, target)
        except BaseException:
            if os.path.exists(partial):
                os.unlink(partial)
            raise
        finally:
            connection.close()
        return target

    def upload(self, data: Union[bytes, str, "os.PathLike[str]"], content_type: Optional[str] = None) -> JsonObject:
        """POST /v1/files: a speaker reference (WAV) or portrait (PNG/JPEG), given as bytes or a path.
        Returns {"id", "bytes", "content_type", and "speaker_wav"/"audio_path" or "reference_image"} to pass
        in job inputs. The same bytes are stored once."""
        if not isinstance(data, bytes):
            name = os.fspath(data)
            with open(name, "rb") as file:
                payload = file.read()
            if content_type is None:
                content_type = _content_type_for(name)
        else:
            payload = data
        if content_type is None:
            content_type = _sniff(payload)
        return self._json("POST", "/v1/files", payload, content_type=content_type, idempotent=True)

    def models(self) -> List[JsonObject]:
        """GET /v1/models: what the fleet serves, with each model's languages, parameters and modes."""
        return list(self._json("GET", "/v1/models").get("models", []))

    # --- Transport --------------------------------------------------------------------------------

    def _json(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
              timeout: Optional[float] = None, idempotent: bool = False,
              idempotency_key: Optional[str] = None) -> JsonObject:
        headers: Dict[str, str] = {}
        payload = b""
        if body is not None:
            payload = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
            headers["Content-Type"] = content_type
        if idempotent and method == "POST":
            headers["Idempotency-Key"] = idempotency_key or "py-" + secrets.token_hex(16)
        response = self._request(method, path, payload, headers, timeout)
        if response.status >= 400:
            raise _error_from(response.status, response.headers, response.body)
        return response.json()

    def _request(self, method: str, path: str, body: bytes = b"", headers: Optional[Dict[str, str]] = None,
                 timeout: Optional[float] = None, retry: bool = True) -> _Response:
        # A POST is retried only with an Idempotency-Key: without one a retry might make a second job.
        retriable = retry and (method in ("GET", "HEAD", "DELETE") or "Idempotency-Key" in (headers or {}))
        attempt = 0
        while True:
            try:
                connection, response = self._send(method, path, body, headers or {},
                                                  self._timeout if timeout is None else timeout)
                try:
                    answer = _Response(response.status, {k.lower(): v for k, v in response.getheaders()},
                                       response.read())
                finally:
                    connection.close()
            except (OSError, http.client.HTTPException) as failure:
                if not retriable or attempt >= self._retries:
                    raise ConnectionFailed("%s %s%s: %s" % (method, self.url, path, failure)) from failure
                self._sleep_before_retry(attempt, None)
                attempt += 1
                continue
            if answer.status in RETRIED_STATUSES and retriable and attempt < self._retries:
                self._sleep_before_retry(attempt, answer.headers.get("retry-after"))
                attempt += 1
                continue
            return answer

    def _sleep_before_retry(self, attempt: int, retry_after: Optional[str]) -> None:
        delay: Optional[float] = None
        if retry_after is not None:
            try:
                delay = float(retry_after)
            except ValueError:
                delay = None
        if delay is None:
            delay = min(self._max_backoff, 0.25 * (2 ** attempt)) * (0.5 + random.random() / 2)
        time.sleep(min(max(delay, 0.0), self._max_backoff))

    def _open(self, method: str, path: str, headers: Dict[str, str],
              timeout: Optional[float]) -> Tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Opens a streamed answer, raising ApiError when it is an error (read whole, it is small)."""
        try:
            connection, response = self._send(method, path, b"", headers, timeout)
        except (OSError, http.client.HTTPException) as failure:
            raise ConnectionFailed("%s %s%s: %s" % (method, self.url, path, failure)) from failure
        if response.status >= 400:
            try:
                error = _error_from(response.status, {k.lower(): v for k, v in response.getheaders()},
                                    response.read(1 << 20))
            finally:
                connection.close()
            raise error
        return connection, response

    def _send(self, method: str, path: str, body: bytes, headers: Dict[str, str],
              timeout: Optional[float]) -> Tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        read_timeout = timeout  # None only for streams, which may be quiet for long
        if self._https:
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                self._host, self._port, timeout=read_timeout, context=self._ssl)
        else:
            connection = http.client.HTTPConnection(self._host, self._port, timeout=read_timeout)
        all_headers = {"User-Agent": "gpufleet-client-python/0.1", "Accept": "application/json"}
        all_headers.update(headers)
        if self._api_key:
            all_headers["Authorization"] = "Bearer " + self._api_key
        try:
            connection.request(method, self._base + path, body=body or None, headers=all_headers)
            return connection, connection.getresponse()
        except BaseException:
            connection.close()
            raise


def _job_path(job_id: str) -> str:
    return urllib.parse.quote(job_id, safe="")


def _content_type_for(name: str) -> Optional[str]:
    lower = name.lower()
    for suffix, kind in ((".wav", "audio/wav"), (".png", "image/png"), (".jpg", "image/jpeg"), (".jpeg", "image/jpeg"),
                         (".mp4", "video/mp4"), (".mov", "video/quicktime"), (".webm", "video/webm")):
        if lower.endswith(suffix):
            return kind
    return None


def _sniff(payload: bytes) -> str:
    if payload[:4] == b"RIFF" and payload[8:12] == b"WAVE":
        return "audio/wav"
    if payload[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if payload[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if payload[4:8] == b"ftyp":
        return "video/quicktime" if payload[8:12] == b"qt  " else "video/mp4"
    if payload[:4] == b"\x1a\x45\xdf\xa3":
        return "video/webm"
    return "application/octet-stream"
